"""Deleting in the admin keeps the boards right, under the production configuration: a
submission deleted on its page or with "delete selected" leaves its team's standing
recomputed in the same transaction (what a from-scratch rebuild gives), a deleted team
leaves the board with its neighbours' comparisons queued for a refresh, a user with
runs cannot be deleted, and participants delete nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from adminworld import World
from django.contrib.admin import helpers
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import reverse
from factories import SubmissionFactory, TeamFactory

from competitions import standings
from competitions.models import Submission, Team, TeamStanding

SUBMISSIONS = reverse("admin:competitions_submission_changelist")
TEAMS = reverse("admin:competitions_team_changelist")


@pytest.fixture
def production(settings: Any) -> Iterator[None]:
    """DEBUG off and no media URL, as `./podiumctl up` runs (static storage: whitenoise's)."""
    settings.DEBUG = False
    settings.MEDIA_URL = None
    cache.clear()
    yield


def board(world: World) -> list[tuple[str, float]]:
    """The public board as anyone reads it through the API."""
    url = f"/api/v1/competitions/{world.competition.slug}/leaderboard/"
    entries = world.client("anonymous").get(url).json()["entries"]
    return [(e["team"], e["score"]) for e in entries]


def _delete_selected(client: Client, url: str, *pks: int) -> Any:
    return client.post(
        url,
        {"action": "delete_selected", helpers.ACTION_CHECKBOX_NAME: pks, "index": 0, "post": "yes"},
    )


def setup_committed() -> None:
    """Drop what the world's setup left to run on commit (the test's transaction never
    commits), so that what a request enqueues is seen on its own."""
    transaction.get_connection().run_on_commit.clear()


def assert_standings_as_from_scratch(world: World) -> None:
    stored = list(TeamStanding.objects.order_by("pk").values())
    standings.standings_rebuild(competition_id=world.competition.pk)
    assert list(TeamStanding.objects.order_by("pk").values()) == stored


def test_deleting_a_submission_on_its_page_refreshes_the_board(
    production: None, world: World
) -> None:
    scored, _failed, rival = world.submissions
    assert sorted(board(world)) == [("them", rival.public_score), ("us", scored.public_score)]
    client = world.client("staff")
    url = reverse("admin:competitions_submission_delete", args=[scored.pk])
    assert client.get(url).status_code == 200

    assert client.post(url, {"post": "yes"}).status_code == 302

    assert not Submission.objects.filter(pk=scored.pk).exists()
    assert board(world) == [("them", rival.public_score)]  # "us" has only a failed run left
    standing = TeamStanding.objects.get(team__name="us")
    assert (standing.submissions, standing.public_submission_id) == (1, None)
    assert_standings_as_from_scratch(world)


def test_delete_selected_refreshes_every_team_it_touches(
    production: None, world: World, django_capture_on_commit_callbacks
) -> None:
    scored, failed, rival = world.submissions
    client = world.client("staff")
    setup_committed()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _delete_selected(client, SUBMISSIONS, scored.pk, rival.pk)
    assert response.status_code == 302
    assert set(Submission.objects.values_list("pk", flat=True)) == {failed.pk}
    assert board(world) == []
    assert not TeamStanding.objects.filter(team__name="them").exists()  # nothing counted
    assert_standings_as_from_scratch(world)
    # The comparisons are refreshed in the background, never in the request.
    assert standings._BoardComparisons(world.competition.pk) in callbacks


def test_deleting_a_team_in_the_admin_takes_it_off_the_board(
    production: None, world: World, django_capture_on_commit_callbacks
) -> None:
    # A team whose members all left keeps its runs and its place; the admin deletes it
    # (a team with members cannot be: its memberships are read-only there).
    gone = TeamFactory(competition=world.competition, name="gone")
    SubmissionFactory(team=gone, user=world.participant, public_score=0.99)
    assert next(team for team, _ in board(world)) == "gone"
    client = world.client("staff")
    them = Team.objects.get(name="them")
    assert _delete_selected(client, TEAMS, them.pk).status_code == 403
    setup_committed()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _delete_selected(client, TEAMS, gone.pk)
    assert response.status_code == 302
    assert sorted(team for team, _ in board(world)) == ["them", "us"]
    assert_standings_as_from_scratch(world)
    assert standings._BoardComparisons(world.competition.pk) in callbacks


def test_a_user_with_runs_cannot_be_deleted(production: None, world: World) -> None:
    client = world.client("staff")
    url = reverse("admin:auth_user_delete", args=[world.other_team.pk])
    before = board(world)
    page = client.get(url)
    assert "<title>Cannot delete user" in page.content.decode()
    client.post(url, {"post": "yes"})
    assert Submission.objects.filter(user=world.other_team).exists()
    assert board(world) == before


@pytest.mark.parametrize("role", ["anonymous", "participant", "other team"])
def test_participants_delete_nothing(production: None, world: World, role: str) -> None:
    scored = world.submissions[0]
    before = board(world)
    client = world.client(role)
    client.post(reverse("admin:competitions_submission_delete", args=[scored.pk]), {"post": "yes"})
    _delete_selected(client, SUBMISSIONS, scored.pk)
    assert Submission.objects.filter(pk=scored.pk).exists()
    assert board(world) == before
