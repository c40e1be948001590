"""Podium's scoring kernel: metrics, prediction validation, the public/private split, the
scorer and bootstrap intervals. Plain Python: nothing here imports Django, reads settings or
touches the database (the pipeline that uses it is competitions/evaluation/)."""
