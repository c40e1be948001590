"""Fixtures for the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import apifixtures
import pytest
from apifixtures import Arena, make_arena, token_client
from django.core.cache import cache
from rest_framework.test import APIClient

# Django's live server, started so that it works with MEDIA_URL = None (see apifixtures).
_media_url_while_the_live_server_starts = apifixtures._media_url_while_the_live_server_starts
live_server = apifixtures.live_server


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fresh throttle counters and leaderboard cache; no scoring task is ever queued."""
    monkeypatch.setattr(
        "competitions.evaluation.tasks.enqueue_evaluation", lambda submission_id: None
    )
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def arena(db: None) -> Arena:
    return make_arena()


@pytest.fixture
def alice(arena: Arena) -> APIClient:
    return token_client(arena.me.user)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """Print the fuzzing figures when the fuzz test ran."""
    from test_api_fuzz import FUZZ_STATS

    if FUZZ_STATS["requests"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(FUZZ_STATS["by_status"].items()))
        terminalreporter.write_line(
            f"API fuzzing: {FUZZ_STATS['requests']} requests, "
            f"{FUZZ_STATS['server_errors']} server errors (5xx); by status: {statuses}"
        )
