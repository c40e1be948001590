"""Stored ranks (TeamStanding.public_rank / private_rank, competitions.standings): dense
after every kind of write, and the private board's public ranks read from them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory
from test_standings_property import oracle

from competitions import standings
from competitions.evaluation import transitions
from competitions.leaderboards import leaderboard_page_for_user
from competitions.models import Competition, Submission, Team, TeamStanding
from competitions.services.submissions import submissions_delete
from competitions.services.teams import teams_delete

pytestmark = pytest.mark.django_db

T0 = timezone.now() - dt.timedelta(days=3)


def stored_ranks(competition: Competition, kind: str) -> list[tuple[int, int]]:
    return list(
        TeamStanding.objects.filter(competition=competition, **{f"{kind}_rank__isnull": False})
        .order_by(f"{kind}_rank")
        .values_list(f"{kind}_rank", "team_id")
    )


def expected_ranks(competition: Competition, kind: str) -> list[tuple[int, int]]:
    return [(row[0], row[1]) for row in oracle(competition, kind)]


def board(teams: int, runs: int = 2) -> Competition:
    competition = CompetitionFactory(metric="accuracy", start=T0 - dt.timedelta(days=1))
    for i in range(teams):
        team = MembershipFactory(team__competition=competition, team__name=f"t{i:02d}").team
        for j in range(runs):
            new = SubmissionFactory.build(
                team=team,
                competition=competition,
                user=team.memberships.first().user,
                created_at=T0 + dt.timedelta(minutes=i * runs + j),
                public_score=None,
                private_score=None,
            )
            transitions.create(new)
            transitions.claim(submission_id=new.pk, owner="w/1", lease_seconds=60)
            score = ((i * 7 + j * 3) % teams) / teams
            transitions.score(
                submission_id=new.pk, owner="w/1", public_score=score, private_score=1 - score
            )
    return competition


def assert_dense(competition: Competition) -> None:
    for kind in ("public", "private"):
        assert stored_ranks(competition, kind) == expected_ranks(competition, kind)


def test_deleting_a_teams_ranked_run_keeps_the_ranks_dense() -> None:
    # The ranked run's deletion nulls the standing's key (SET_NULL) before the refresh:
    # the refresh moves the team from its stored rank, not from its old key.
    competition = board(5)
    assert_dense(competition)
    staff = UserFactory(is_staff=True)
    for team in Team.objects.filter(competition=competition).order_by("pk")[:3]:
        ranked = TeamStanding.objects.get(team=team).public_submission_id
        submissions_delete(actor=staff, submissions=Submission.objects.filter(pk=ranked))
        assert_dense(competition)


def test_deleting_teams_renumbers_the_board() -> None:
    competition = board(6)
    staff = UserFactory(is_staff=True)
    middle = TeamStanding.objects.get(competition=competition, public_rank=3).team_id
    teams_delete(actor=staff, teams=Team.objects.filter(pk=middle))
    assert_dense(competition)
    assert stored_ranks(competition, "public")[-1][0] == 5


def test_a_rebuild_stores_the_same_ranks_as_the_writes() -> None:
    competition = board(7, runs=3)
    before = stored_ranks(competition, "public"), stored_ranks(competition, "private")
    TeamStanding.objects.filter(competition=competition).update(public_rank=None)
    standings.standings_rebuild(competition_id=competition.pk)
    assert (stored_ranks(competition, "public"), stored_ranks(competition, "private")) == before


@pytest.mark.parametrize("teams", [6, 30])
def test_the_private_boards_public_ranks_are_read_not_counted(teams: int) -> None:
    competition = board(teams)
    staff = UserFactory(is_staff=True)
    expected = oracle(competition, "private")
    own_team = Team.objects.get(pk=expected[-1][1])
    counts = []
    for page in (1, 2, 3):
        with CaptureQueriesContext(connection) as captured:
            got = leaderboard_page_for_user(
                user=staff,
                competition=competition,
                kind="private",
                page=page,
                page_size=2,
                team=own_team,
            )
        counts.append(len(captured.captured_queries))
        # Rank, team, and the public rank: from scratch (test_standings_property.oracle).
        wanted = [(row[0], row[1], row[6]) for row in expected[(page - 1) * 2 : page * 2]]
        assert [(e.rank, e.team_id, e.public_rank) for e in got.entries] == wanted
        assert got.own is not None and got.own.public_rank == expected[-1][6]
        # No count over the board: the page is a range of stored ranks.
        assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)
    assert counts == [2, 2, 2]
