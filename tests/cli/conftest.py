"""Fixtures for the CLI tests: the `podium` client against a live server on 127.0.0.1."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache

# The arena (a competition, two teams, hidden files) is shared with the API tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
# The client of this checkout, whatever checkout the venv's editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cli"))

import apifixtures
from apifixtures import Arena, make_arena
from podium_cli.main import main
from rest_framework.authtoken.models import Token

# The live server as the API tests start it (see apifixtures).
_media_url_while_the_live_server_starts = apifixtures._media_url_while_the_live_server_starts
live_server = apifixtures.live_server


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, so that the progress bar is drawn."""

    def isatty(self) -> bool:
        return True


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A home of its own (~/.podium), no ambient configuration, no scoring task queued."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("PODIUM_URL", "PODIUM_TOKEN", "PODIUM_RESUMABLE_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        "competitions.evaluation.tasks.enqueue_evaluation", lambda submission_id: None
    )
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def arena(transactional_db: None) -> Arena:
    return make_arena()


@pytest.fixture
def podium(
    live_server,
    arena: Arena,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> Callable[..., Result]:
    """Run `podium ARGS…` in-process as alice, against the live server."""
    token, _ = Token.objects.get_or_create(user=arena.me.user)
    monkeypatch.setenv("PODIUM_URL", live_server.url)
    monkeypatch.setenv("PODIUM_TOKEN", token.key)

    def run(*args: str) -> Result:
        out, err = io.StringIO(), Terminal()
        code = main([str(a) for a in args], stdout=out, stderr=err)
        return Result(code, out.getvalue(), err.getvalue())

    return run
