"""Additional metrics (shown next to the score, never ranked) follow the private score's
hiding rules on every channel: the submission page and its status JSON, the API's
submission detail and list, the leaderboards (web, API, both CSV downloads), as
anonymous, a participant, another team and staff, before and after the reveal, under
the production settings (DEBUG off, MEDIA_URL None)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from apifixtures import Arena, make_arena
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from factories import UserFactory

from competitions.models import Competition, Submission
from competitions.standings import standings_rebuild

pytestmark = pytest.mark.django_db

# Each value is written once, so finding it names the channel that leaked it.
PUBLIC_EXTRA = {"mine": 0.613579, "theirs": 0.624681}
PRIVATE_EXTRA = {"mine": 0.735791, "theirs": 0.746813}


def _digits(value: float) -> list[str]:
    """How pages (5 decimals) and the API/CSV (repr) write a score."""
    return [f"{value:.5f}", repr(value)]


@pytest.fixture
def production(settings: Any) -> Iterator[None]:
    settings.DEBUG = False
    settings.MEDIA_URL = None
    cache.clear()  # API throttles start from zero
    yield


@pytest.fixture
def arena(production: None) -> Arena:
    arena = make_arena()
    arena.competition.additional_metrics = ["f1_macro"]
    arena.competition.save(update_fields=["additional_metrics"])
    for key, run in (("mine", arena.mine), ("theirs", arena.theirs)):
        Submission.objects.filter(pk=run.pk).update(
            public_additional_scores={"f1_macro": PUBLIC_EXTRA[key]},
            private_additional_scores={"f1_macro": PRIVATE_EXTRA[key]},
        )
    standings_rebuild(competition_id=arena.competition.pk)
    return arena


def _client(arena: Arena, role: str) -> Client:
    client = Client()
    user = {
        "anonymous": None,
        "participant": arena.me.user,
        "another team": arena.rival.user,
        "staff": UserFactory(is_staff=True),
    }[role]
    if user is not None:
        client.force_login(user)
    return client


def _paths(arena: Arena) -> dict[str, str]:
    slug, mine = arena.competition.slug, arena.mine.pk
    return {
        "board": reverse("competitions:leaderboard", args=[slug]),
        "private board": reverse("competitions:leaderboard", args=[slug]) + "?kind=private",
        "csv": reverse("competitions:leaderboard_csv", args=[slug]),
        "private csv": reverse("competitions:leaderboard_csv", args=[slug]) + "?kind=private",
        "overview": reverse("competitions:detail", args=[slug]),
        "page": reverse("competitions:submission", args=[mine]),
        "status": reverse("competitions:submission_status", args=[mine]),
        "my submissions": reverse("competitions:my_submissions", args=[slug]),
        "api detail": f"/api/v1/submissions/{mine}/",
        "api list": f"/api/v1/competitions/{slug}/submissions/",
        "api board": f"/api/v1/competitions/{slug}/leaderboard/",
        "api private board": f"/api/v1/competitions/{slug}/leaderboard/?kind=private",
        "api csv": f"/api/v1/competitions/{slug}/leaderboard/csv/",
        "api private csv": f"/api/v1/competitions/{slug}/leaderboard/csv/?kind=private",
    }


def _everything(client: Client, arena: Arena) -> str:
    """Every channel's answer, whatever its status (a refusal must not leak either)."""
    bodies = []
    for path in _paths(arena).values():
        response = client.get(path)
        assert response.status_code < 500, path
        body = getattr(response, "streaming_content", None)
        bodies.append(b"".join(body).decode() if body is not None else response.content.decode())
    return "\n".join(bodies)


@pytest.mark.parametrize("role", ["anonymous", "participant", "another team"])
def test_private_additional_scores_are_hidden_before_the_reveal(arena: Arena, role: str) -> None:
    text = _everything(_client(arena, role), arena)
    for value in PRIVATE_EXTRA.values():
        for written in _digits(value):
            assert written not in text, (role, written)
    # The public board shows both teams' public additional scores, to everybody.
    for value in PUBLIC_EXTRA.values():
        assert f"{value:.5f}" in text, role


def test_staff_see_private_additional_scores_before_the_reveal(arena: Arena) -> None:
    staff = _client(arena, "staff")
    paths = _paths(arena)
    detail = staff.get(paths["api detail"]).json()
    assert detail["private_additional_scores"] == {"f1_macro": PRIVATE_EXTRA["mine"]}
    board = staff.get(paths["api private board"]).json()
    assert {e["team"]: e["additional_scores"] for e in board["entries"]} == {
        "us": {"f1_macro": PRIVATE_EXTRA["mine"]},
        "them": {"f1_macro": PRIVATE_EXTRA["theirs"]},
    }
    page = staff.get(paths["page"]).content.decode()
    assert f"{PRIVATE_EXTRA['mine']:.5f}</span> private" in page


def test_a_participant_sees_its_own_public_additional_score_everywhere(arena: Arena) -> None:
    alice = _client(arena, "participant")
    paths = _paths(arena)
    detail = alice.get(paths["api detail"]).json()
    assert detail["public_additional_scores"] == {"f1_macro": PUBLIC_EXTRA["mine"]}
    assert detail["private_additional_scores"] == {}
    status = alice.get(paths["status"]).json()
    assert status["public_additional_scores"] == {"f1_macro": PUBLIC_EXTRA["mine"]}
    page = alice.get(paths["page"]).content.decode()
    assert "<dt>Macro F1</dt>" in page and f"{PUBLIC_EXTRA['mine']:.5f}" in page
    board = alice.get(paths["api board"]).json()
    assert board["additional_metrics"] == [{"name": "f1_macro", "title": "Macro F1"}]
    assert {e["team"]: e["additional_scores"] for e in board["entries"]} == {
        "us": {"f1_macro": PUBLIC_EXTRA["mine"]},
        "them": {"f1_macro": PUBLIC_EXTRA["theirs"]},
    }
    rows = list(csv.DictReader(io.StringIO(b"".join(alice.get(paths["csv"])).decode())))
    assert {r["team"]: float(r["f1_macro"]) for r in rows} == {
        "us": PUBLIC_EXTRA["mine"],
        "them": PUBLIC_EXTRA["theirs"],
    }


def test_another_team_never_reads_a_teams_run(arena: Arena) -> None:
    mallory = _client(arena, "another team")
    paths = _paths(arena)
    for name in ("page", "status", "api detail"):
        assert mallory.get(paths[name]).status_code == 404, name


@pytest.mark.parametrize("role", ["anonymous", "participant", "another team"])
def test_private_additional_scores_are_shown_after_the_reveal(arena: Arena, role: str) -> None:
    Competition.objects.filter(pk=arena.competition.pk).update(private_revealed_at=timezone.now())
    client = _client(arena, role)
    paths = _paths(arena)
    board = client.get(paths["api private board"]).json()
    assert {e["team"]: e["additional_scores"]["f1_macro"] for e in board["entries"]} == {
        "us": PRIVATE_EXTRA["mine"],
        "them": PRIVATE_EXTRA["theirs"],
    }
    page = client.get(paths["private board"]).content.decode()
    assert all(f"{v:.5f}" in page for v in PRIVATE_EXTRA.values()), role
    rows = list(csv.DictReader(io.StringIO(b"".join(client.get(paths["private csv"])).decode())))
    assert sorted(float(r["f1_macro"]) for r in rows) == sorted(PRIVATE_EXTRA.values())
    if role == "participant":
        detail = client.get(paths["api detail"]).json()
        assert detail["private_additional_scores"] == {"f1_macro": PRIVATE_EXTRA["mine"]}
