"""Public and private leaderboards (competitions.leaderboards.leaderboard_for_user)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from factories import (
    CompetitionFactory,
    MembershipFactory,
    SubmissionFactory,
    TeamFactory,
    UserFactory,
)

from competitions.leaderboards import LeaderboardEntry, leaderboard_for_user
from competitions.models import Competition, Submission, Team
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db

T0 = timezone.now() - dt.timedelta(days=5)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def run(
    team: Team, public: float | None, private: float | None = None, minute: int = 0, **kwargs
) -> Submission:
    return SubmissionFactory(
        team=team, public_score=public, private_score=private, created_at=at(minute), **kwargs
    )


def public_board(competition: Competition) -> list[LeaderboardEntry]:
    return leaderboard_for_user(user=AnonymousUser(), competition=competition)


def private_board(competition: Competition) -> list[LeaderboardEntry]:
    staff = UserFactory(username="organizer", is_staff=True)
    return leaderboard_for_user(user=staff, competition=competition, kind="private")


def ranking(entries: list[LeaderboardEntry]) -> list[tuple[int, str, float]]:
    return [(e.rank, e.team, pytest.approx(e.score)) for e in entries]


@pytest.fixture
def competition() -> Competition:
    return CompetitionFactory(metric="accuracy", start=T0 - dt.timedelta(days=1))


def test_public_leaderboard_ranks_each_teams_best_public_score(competition: Competition) -> None:
    a = TeamFactory(competition=competition, name="A")
    b = TeamFactory(competition=competition, name="B")
    c = TeamFactory(competition=competition, name="C")
    run(a, 0.80, minute=1)
    run(a, 0.90, minute=2)
    run(a, 0.70, minute=3)
    run(b, 0.95, minute=4)
    run(c, 0.85, minute=5)

    assert ranking(public_board(competition)) == [(1, "B", 0.95), (2, "A", 0.90), (3, "C", 0.85)]


def test_public_leaderboard_ranks_lowest_first_for_rmse() -> None:
    competition = CompetitionFactory(metric="rmse", start=T0 - dt.timedelta(days=1))
    a = TeamFactory(competition=competition, name="A")
    b = TeamFactory(competition=competition, name="B")
    run(a, 0.5, minute=1)
    run(a, 0.3, minute=2)
    run(b, 0.4, minute=3)
    run(b, 1.2, minute=4)

    assert ranking(public_board(competition)) == [(1, "A", 0.3), (2, "B", 0.4)]


def test_tie_goes_to_the_team_that_reached_the_score_first(competition: Competition) -> None:
    slow = TeamFactory(competition=competition, name="slow")
    quick = TeamFactory(competition=competition, name="quick")
    run(slow, 0.5, minute=1)  # slow submitted first, but reached 0.9 later
    run(slow, 0.9, minute=20)
    run(quick, 0.9, minute=10)
    run(quick, 0.9, minute=30)

    assert ranking(public_board(competition)) == [(1, "quick", 0.9), (2, "slow", 0.9)]


def test_tie_on_the_private_board_goes_to_the_earlier_submission(
    competition: Competition,
) -> None:
    slow = TeamFactory(competition=competition, name="slow")
    quick = TeamFactory(competition=competition, name="quick")
    run(slow, 0.9, 0.8, minute=5)
    run(quick, 0.7, 0.8, minute=3)

    assert ranking(private_board(competition)) == [(1, "quick", 0.8), (2, "slow", 0.8)]


def test_late_and_unscored_submissions_are_never_ranked(competition: Competition) -> None:
    ranked = TeamFactory(competition=competition, name="ranked")
    only_late = TeamFactory(competition=competition, name="only-late")
    only_unscored = TeamFactory(competition=competition, name="only-unscored")
    run(ranked, 0.6, minute=1)
    run(ranked, 0.99, minute=2, is_late=True)
    run(only_late, 0.99, minute=3, is_late=True)
    run(only_unscored, None, minute=4, status=Submission.Status.QUEUED)
    run(only_unscored, None, minute=5, status=Submission.Status.RUNNING)
    run(
        only_unscored,
        None,
        minute=6,
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.RUNTIME_ERROR,
    )

    assert ranking(public_board(competition)) == [(1, "ranked", 0.6)]


def test_entries_count_submissions_and_show_the_last_one(competition: Competition) -> None:
    team = TeamFactory(competition=competition, name="A")
    run(team, 0.7, minute=1)
    run(team, 0.8, minute=2)
    run(
        team,
        None,
        minute=3,
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.TIME_LIMIT,
    )
    run(team, None, minute=4, status=Submission.Status.CANCELLED)
    run(team, 0.9, minute=5, is_late=True)

    (entry,) = public_board(competition)

    assert entry.rank == 1
    assert entry.team_id == team.pk
    assert entry.score == pytest.approx(0.8)
    assert entry.submissions == 3  # two scored and the failed one; not cancelled, not late
    assert entry.last_submission == at(3)


def test_empty_leaderboard(competition: Competition) -> None:
    TeamFactory(competition=competition)
    assert public_board(competition) == []


def test_leaderboards_of_other_competitions_do_not_mix(competition: Competition) -> None:
    run(TeamFactory(competition=competition, name="here"), 0.5)
    run(TeamFactory(name="elsewhere"), 0.9)
    assert [e.team for e in public_board(competition)] == ["here"]


def test_unknown_leaderboard_kind_is_an_error(competition: Competition) -> None:
    with pytest.raises(ApplicationError, match="Unknown leaderboard 'bogus'"):
        leaderboard_for_user(user=AnonymousUser(), competition=competition, kind="bogus")


# Who sees the private leaderboard


def test_private_leaderboard_is_hidden_from_participants_before_the_end(
    competition: Competition,
) -> None:
    participant = MembershipFactory(team__competition=competition).user
    for user in (participant, AnonymousUser()):
        with pytest.raises(ApplicationError, match="hidden until the competition ends") as exc:
            leaderboard_for_user(user=user, competition=competition, kind="private")
        assert exc.value.extra == {"code": "private_hidden"}


def test_staff_see_the_private_leaderboard_before_the_end(competition: Competition) -> None:
    run(TeamFactory(competition=competition, name="A"), 0.6, 0.7)
    assert ranking(private_board(competition)) == [(1, "A", 0.7)]


def test_private_leaderboard_is_public_after_the_end() -> None:
    competition = CompetitionFactory(
        start=T0 - dt.timedelta(days=1), end=timezone.now() - dt.timedelta(seconds=1)
    )
    run(TeamFactory(competition=competition, name="A"), 0.6, 0.7)
    entries = leaderboard_for_user(user=AnonymousUser(), competition=competition, kind="private")
    assert ranking(entries) == [(1, "A", 0.7)]


def test_private_leaderboard_is_public_once_revealed(competition: Competition) -> None:
    run(TeamFactory(competition=competition, name="A"), 0.6, 0.7)
    participant = MembershipFactory(team__competition=competition).user
    competition.private_revealed_at = timezone.now()
    competition.save(update_fields=["private_revealed_at"])

    entries = leaderboard_for_user(user=participant, competition=competition, kind="private")
    assert ranking(entries) == [(1, "A", 0.7)]


# What the private leaderboard ranks


def test_private_score_comes_only_from_the_best_public_submissions(
    competition: Competition,
) -> None:
    assert competition.final_selections == 2
    a = TeamFactory(competition=competition, name="A")
    run(a, public=0.90, private=0.70, minute=1)
    run(a, public=0.85, private=0.75, minute=2)
    run(a, public=0.60, private=0.99, minute=3)  # best private, but not a final selection
    b = TeamFactory(competition=competition, name="B")
    run(b, public=0.80, private=0.80, minute=4)

    assert ranking(private_board(competition)) == [(1, "B", 0.80), (2, "A", 0.75)]
    assert ranking(public_board(competition)) == [(1, "A", 0.90), (2, "B", 0.80)]


def test_more_final_selections_reach_further_down_the_public_ranking(
    competition: Competition,
) -> None:
    competition.final_selections = 3
    competition.save(update_fields=["final_selections"])
    a = TeamFactory(competition=competition, name="A")
    run(a, public=0.90, private=0.70, minute=1)
    run(a, public=0.85, private=0.75, minute=2)
    run(a, public=0.60, private=0.99, minute=3)

    assert ranking(private_board(competition)) == [(1, "A", 0.99)]


def test_private_leaderboard_ranks_lowest_first_for_rmse() -> None:
    competition = CompetitionFactory(metric="rmse", start=T0 - dt.timedelta(days=1))
    a = TeamFactory(competition=competition, name="A")
    run(a, public=0.20, private=0.50, minute=1)
    run(a, public=0.25, private=0.40, minute=2)
    run(a, public=0.90, private=0.10, minute=3)  # not among A's two best public runs
    b = TeamFactory(competition=competition, name="B")
    run(b, public=0.30, private=0.45, minute=4)

    assert ranking(private_board(competition)) == [(1, "A", 0.40), (2, "B", 0.45)]


def test_late_submissions_are_not_final_selections(competition: Competition) -> None:
    a = TeamFactory(competition=competition, name="A")
    run(a, public=0.50, private=0.50, minute=1)
    run(a, public=0.99, private=0.99, minute=2, is_late=True)
    assert ranking(private_board(competition)) == [(1, "A", 0.50)]


# Query counts


def _teams_with_runs(competition: Competition, n: int) -> None:
    for i in range(n):
        team = TeamFactory(competition=competition, name=f"team-{i:02d}")
        run(team, public=0.5 + i / 100, private=0.4 + i / 100, minute=i)
        run(team, public=0.4, private=0.3, minute=100 + i)
        run(
            team,
            None,
            minute=200 + i,
            status=Submission.Status.FAILED,
            failure_kind=Submission.FailureKind.RUNTIME_ERROR,
        )


@pytest.mark.parametrize("teams", [3, 30])
@pytest.mark.parametrize("kind", ["public", "private"])
def test_leaderboard_takes_two_queries_whatever_the_number_of_teams(
    competition: Competition, django_assert_num_queries, teams: int, kind: str
) -> None:
    _teams_with_runs(competition, teams)
    staff = UserFactory(is_staff=True)

    # The board's size, then the stored standings with their intervals and (private) their
    # stored public ranks: no submissions.
    with django_assert_num_queries(2) as captured:
        entries = leaderboard_for_user(user=staff, competition=competition, kind=kind)

    assert not any("competitions_submission" in q["sql"] for q in captured.captured_queries)
    assert len(entries) == teams
    assert entries[0].team == f"team-{teams - 1:02d}"
    assert all(e.submissions == 3 for e in entries)
