"""Moving submissions between teams (an accepted invitation, a merge) never puts the
receiving team over a per-team limit: runs at once, today's submissions, today's debug
runs, final selections, members. Attacks through the API as participants, with DEBUG
off, and two merges accepted at the same moment."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Iterator
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory

from competitions.models import Competition, Submission, Team, TeamMembership
from competitions.services.submissions import submission_create, submission_quota
from competitions.services.teams import (
    competition_join,
    team_invitation_respond,
    team_invite,
    team_merge_request,
    team_merge_respond,
)
from podium.errors import ApplicationError

UTC = dt.UTC
START = dt.datetime(2030, 1, 1, tzinfo=UTC)
NOW = dt.datetime(2030, 1, 3, 12, tzinfo=UTC)  # day 3: the merge allowance is 3 x daily
QUEUED = Submission.Status.QUEUED


@pytest.fixture
def clock() -> Iterator[None]:
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        yield


@pytest.fixture
def comp(db: None, clock: None) -> Competition:
    return CompetitionFactory(
        slug="digits",
        title="Digits",
        start=START,
        end=dt.datetime(2030, 2, 1, tzinfo=UTC),
        daily_submission_limit=3,
        debug_daily_limit=5,
        max_concurrent_runs=2,
        final_selections=2,
        max_team_size=4,
    )


def joined(comp: Competition, name: str) -> tuple[object, Team]:
    user = UserFactory(username=name)
    return user, competition_join(user=user, competition=comp)


def runs(team: Team, n: int, **fields: object) -> None:
    for _ in range(n):
        SubmissionFactory(team=team, **{"created_at": START, **fields})


def _api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def production(settings) -> None:
    settings.DEBUG = False
    cache.clear()


@pytest.mark.django_db
def test_accepting_a_merge_over_the_concurrent_limit_is_refused_through_the_api(
    comp: Competition, production: None
) -> None:
    dave, d = joined(comp, "dave")
    carol, c = joined(comp, "carol")
    asked = _api(carol).post(
        "/api/v1/competitions/digits/team/merge-requests/", {"target_team": "dave"}
    )
    assert asked.status_code == 201, asked.content
    # While the request waits, each team queues the 2 debug runs it may have at once.
    runs(d, 2, status=QUEUED, is_debug=True, created_at=NOW)
    runs(c, 2, status=QUEUED, is_debug=True, created_at=NOW)

    answer = _api(dave).post(
        f"/api/v1/competitions/digits/team/merge-requests/{asked.json()['id']}/respond/",
        {"accept": True},
        content_type="application/json",
    )

    assert answer.status_code == 400
    assert answer.json()["code"] == "move_concurrent_limit"
    assert answer.json()["detail"] == (
        "Together, carol and dave have 4 submissions queued or running; a team of Digits may "
        "have at most 2 at once. Wait for runs to finish or cancel some, then try again."
    )
    assert TeamMembership.objects.get(user=carol).team == c  # nothing moved
    assert Submission.objects.filter(team=c).count() == 2
    assert submission_quota(team=d)["running"] == 2


@pytest.mark.django_db
def test_accepting_an_invitation_cannot_bring_runs_over_the_concurrent_limit(
    comp: Competition,
) -> None:
    dave, d = joined(comp, "dave")
    erin, e = joined(comp, "erin")
    runs(d, 2, status=QUEUED, is_debug=True, created_at=NOW)
    invitation = team_invite(user=dave, team=d, invitee_username="erin")
    runs(e, 1, status=QUEUED, is_debug=True, created_at=NOW)
    with pytest.raises(ApplicationError) as exc:
        team_invitation_respond(user=erin, invitation=invitation, accept=True)
    assert exc.value.extra["code"] == "move_concurrent_limit"
    assert "Together, erin and dave have 3 submissions queued or running" in exc.value.message
    assert TeamMembership.objects.get(user=erin).team == e
    # Once erin's run is over, she may come in and her run follows her.
    Submission.objects.filter(team=e).update(status=Submission.Status.SCORED)
    team_invitation_respond(user=erin, invitation=invitation, accept=True)
    assert Submission.objects.filter(team=d).count() == 3


@pytest.mark.django_db
def test_accepting_an_invitation_cannot_exceed_todays_debug_runs(comp: Competition) -> None:
    dave, d = joined(comp, "dave")
    erin, e = joined(comp, "erin")
    runs(d, 3, is_debug=True, created_at=NOW)
    runs(e, 3, is_debug=True, created_at=NOW)
    invitation = team_invite(user=dave, team=d, invitee_username="erin")
    with pytest.raises(ApplicationError) as exc:
        team_invitation_respond(user=erin, invitation=invitation, accept=True)
    assert exc.value.extra["code"] == "move_debug_daily_limit"
    assert exc.value.message.startswith(
        "Together, erin and dave have made 6 debug runs today (UTC day); a team of Digits may "
        "make at most 5 a day. Try again after 2030-01-04 00:00 UTC."
    )


@pytest.mark.django_db
def test_a_merge_cannot_exceed_todays_submissions(comp: Competition) -> None:
    _dave, d = joined(comp, "dave")
    carol, c = joined(comp, "carol")
    runs(d, 2, created_at=NOW)
    runs(c, 2, created_at=NOW)  # 4 in all: within 3 x 3 days, over 3 today
    with pytest.raises(ApplicationError) as exc:
        team_merge_request(user=carol, team=c, target_team_name="dave")
    assert exc.value.extra["code"] == "move_daily_limit"
    assert "have made 4 submissions that count today" in exc.value.message
    assert "at most 3 a day" in exc.value.message


@pytest.mark.django_db
def test_a_merge_over_the_final_selections_is_refused_and_drops_no_choice(
    comp: Competition,
) -> None:
    dave, d = joined(comp, "dave")
    carol, c = joined(comp, "carol")
    runs(d, 1)
    request = team_merge_request(user=carol, team=c, target_team_name="dave")
    runs(d, 1, is_selected=True)
    runs(c, 2, is_selected=True)
    with pytest.raises(ApplicationError) as exc:
        team_merge_respond(user=dave, merge_request=request, accept=True)
    assert exc.value.extra["code"] == "move_selection_limit"
    assert exc.value.message == (
        "Together, carol and dave have chosen 3 final submissions; a team of Digits may choose "
        "at most 2. Unselect some first, so that no final choice is dropped without asking."
    )
    assert Submission.objects.filter(is_selected=True).count() == 3


@pytest.mark.django_db
def test_a_merge_over_the_team_size_is_refused_on_acceptance(comp: Competition) -> None:
    dave, d = joined(comp, "dave")
    carol, c = joined(comp, "carol")
    request = team_merge_request(user=carol, team=c, target_team_name="dave")
    for _ in range(3):
        MembershipFactory(team=d)
    with pytest.raises(ApplicationError) as exc:
        team_merge_respond(user=dave, merge_request=request, accept=True)
    assert exc.value.extra["code"] == "team_full"


@pytest.mark.django_db(transaction=True)
def test_two_merges_accepted_at_once_cannot_both_fill_the_run_slots(clock: None) -> None:
    comp = CompetitionFactory(
        slug="race", start=START, end=dt.datetime(2030, 2, 1, tzinfo=UTC), max_concurrent_runs=2
    )
    dave, d = joined(comp, "dave")
    runs(d, 1, status=QUEUED, is_debug=True, created_at=NOW)
    requests = []
    for name in ("carol", "erin"):
        user, team = joined(comp, name)
        runs(team, 1, status=QUEUED, is_debug=True, created_at=NOW)
        requests.append(team_merge_request(user=user, team=team, target_team_name="dave"))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(request) -> None:
        try:
            barrier.wait()
            team_merge_respond(user=dave, merge_request=request, accept=True)
            outcomes.append("accepted")
        except ApplicationError as exc:
            outcomes.append(exc.extra.get("code", "error"))
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["accepted", "move_concurrent_limit"]
    assert submission_quota(team=Team.objects.get(pk=d.pk))["running"] == 2


@pytest.mark.django_db
def test_a_submit_racing_a_merge_that_deleted_its_team_is_refused_clearly(
    comp: Competition,
) -> None:
    """submission_create reads the membership, then locks the team: a merge accepted in
    between (the old team deleted, the member moved) must give a clear error and store
    nothing, not a server error (Team.DoesNotExist)."""
    alice, team_a = joined(comp, "alice")
    bob, team_b = joined(comp, "bob")
    stale = TeamMembership.objects.get(user=alice, competition=comp)
    request = team_merge_request(user=alice, team=team_a, target_team_name=team_b.name)
    team_merge_respond(user=bob, merge_request=request, accept=True)
    assert not Team.objects.filter(pk=team_a.pk).exists()

    with (
        mock.patch("competitions.services.submissions.membership_for", return_value=stale),
        pytest.raises(ApplicationError) as refused,
    ):
        submission_create(user=alice, competition=comp, image=io.BytesIO(b"x" * 2048))
    assert refused.value.extra["code"] == "team_changed"
    assert "Submit again" in refused.value.message
    assert not Submission.objects.filter(team__competition=comp).exists()
