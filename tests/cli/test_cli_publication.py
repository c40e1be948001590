"""The CLI follows the same rules as the pages: drafts are absent, and the data needs
the rules accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from apifixtures import Arena
from factories import CompetitionFactory, UserFactory
from rest_framework.authtoken.models import Token


def test_a_draft_is_absent_from_the_cli(podium, arena: Arena) -> None:  # type: ignore[no-untyped-def]
    CompetitionFactory(slug="secret-draft", published_at=None)
    listed = podium("competitions", "list")
    assert listed.code == 0
    assert "secret-draft" not in listed.out
    files = podium("competitions", "files", "secret-draft")
    assert files.code != 0


def test_download_before_joining_says_to_join_first(  # type: ignore[no-untyped-def]
    podium, arena: Arena, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = UserFactory(username="stranger")
    monkeypatch.setenv("PODIUM_TOKEN", Token.objects.create(user=stranger).key)
    result = podium("competitions", "download", "arena", "-p", tmp_path)
    assert result.code != 0
    assert "Join The arena (accept its rules) to download its data" in result.err
    assert not list(tmp_path.rglob("*.csv"))

    assert podium("competitions", "join", "arena").code == 0
    again = podium("competitions", "download", "arena", "-p", tmp_path)
    assert again.code == 0, again.err
    assert sorted(p.name for p in tmp_path.rglob("*.csv")) == ["sample_submission.csv", "train.csv"]
