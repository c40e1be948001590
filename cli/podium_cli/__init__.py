"""The `podium` command-line client: a thin wrapper over Podium's REST API v1."""

__version__ = "0.1.0"
