"""Fixtures for the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from apifixtures import Arena, make_arena, token_client
from django.core.cache import cache
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fresh throttle counters and leaderboard cache; no scoring task is ever queued."""
    monkeypatch.setattr("scoring.tasks.enqueue_evaluation", lambda submission_id: None)
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def arena(db: None) -> Arena:
    return make_arena()


@pytest.fixture
def alice(arena: Arena) -> APIClient:
    return token_client(arena.me.user)
