"""Where the server is and who the user is: environment first, then ~/.podium/config.json."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


class ConfigError(Exception):
    """The configuration is missing or unreadable; the message says how to fix it."""


def config_dir() -> Path:
    return Path.home() / ".podium"


@dataclass(frozen=True)
class Config:
    url: str
    token: str | None


def load_config() -> Config:
    """`PODIUM_URL`/`PODIUM_TOKEN` win over the file, key by key (shared/DESIGN.md)."""
    path = config_dir() / "config.json"
    stored: dict[str, object] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is not readable JSON ({exc}).") from exc
        if not isinstance(stored, dict):
            raise ConfigError(f'{path} must hold an object: {{"url": ..., "token": ...}}.')
    url = os.environ.get("PODIUM_URL") or str(stored.get("url") or DEFAULT_URL)
    token = os.environ.get("PODIUM_TOKEN") or stored.get("token") or None
    return Config(url=url.rstrip("/"), token=str(token) if token else None)
