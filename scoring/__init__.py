"""Podium's scoring core: metrics, prediction validation, the public/private split."""
