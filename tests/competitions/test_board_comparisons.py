"""Stored paired comparisons follow the board (competitions.evaluation.confidence): every
change of a ranking (a score, a selection, a rescore, a merge, a deletion, a reveal)
enqueues ``scoring.board_comparisons`` after its commit, never computing in the request,
and once the task ran every stored comparison pairs an entry with the one ranked next
now; the last entry and runs off the board compare with nothing."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pandas as pd
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.db import transaction
from factories import MembershipFactory, SubmissionFactory, UserFactory

from competitions import leaderboards, standings
from competitions.evaluation import confidence
from competitions.evaluation.tasks import board_comparisons
from competitions.models import Competition, ScoreInterval, Submission, Team
from competitions.services.results import competition_rescore, competition_reveal_private
from competitions.services.submissions import submission_select, submissions_delete
from competitions.services.teams import team_merge_request, team_merge_respond, teams_delete

pytestmark = pytest.mark.django_db


def _run(competition: Competition, team: Team, wrong_every: int, public: float, private: float):
    """A scored run of `team` whose kept predictions miss every `wrong_every`-th row; its
    intervals are stored as the worker stores them after scoring."""
    solution = pd.read_csv(competition.files.get(kind="solution").file.path)
    frame = solution[["id", "label"]].copy()
    wrong = frame.index % wrong_every == 0
    frame.loc[wrong, "label"] = (frame.loc[wrong, "label"] + 1) % 10
    submission = SubmissionFactory(
        team=team,
        user=team.memberships.first().user,
        predictions=ContentFile(frame.to_csv(index=False).encode(), name="predictions.csv"),
        public_score=public,
        private_score=private,
    )
    return submission


def _pairs(competition: Competition, kind: str) -> tuple[dict[int, int | None], dict]:
    """(what each ranked entry should compare with, what every stored interval does)."""
    ranked = [
        e.submission_id
        for e in leaderboards.leaderboard(competition=competition, kind=kind)
        if e.submission_id is not None
    ]
    expected = dict(itertools.zip_longest(ranked, ranked[1:]))
    stored = dict(
        ScoreInterval.objects.filter(part=kind, submission__competition=competition).values_list(
            "submission_id", "compared_with"
        )
    )
    return expected, stored


def assert_current(competition: Competition) -> None:
    for kind in ("public", "private"):
        expected, stored = _pairs(competition, kind)
        assert set(expected) <= set(stored), "every ranked entry has its interval"
        for pk, compared in stored.items():
            assert compared == expected.get(pk), (kind, pk, compared, expected)


def test_stored_comparisons_pair_the_current_neighbours_after_every_change(
    digits: Competition, django_capture_on_commit_callbacks
) -> None:
    Competition.objects.filter(pk=digits.pk).update(final_selections=1)
    digits.refresh_from_db()
    staff = UserFactory(username="organizer", is_staff=True)
    a, b, c, d = (MembershipFactory(team__competition=digits, team__name=n).team for n in "ABCD")

    def change(action: Callable[[], object], *, worker: bool = False) -> None:
        """One change in its own transaction: it enqueues one refresh of this board,
        after its commit; the task (as a worker runs it) then brings the pairs up."""
        with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
            result = action()
        # The test's own transaction never commits: what the commit would have sent is
        # checked here, then dropped as the commit would have.
        transaction.get_connection().run_on_commit.clear()
        assert [cb for cb in callbacks if isinstance(cb, standings._BoardComparisons)] == [
            standings._BoardComparisons(digits.pk)
        ]
        if worker:  # the worker stores a new run's intervals (and pairs) after scoring
            confidence.submission_intervals_store(submission_id=result.pk)
        board_comparisons.run(digits.pk)
        assert_current(digits)

    change(lambda: _run(digits, a, 50, 0.98, 0.98), worker=True)
    change(lambda: _run(digits, b, 3, 0.67, 0.67), worker=True)
    change(lambda: _run(digits, c, 10, 0.90, 0.90), worker=True)
    # A new run between two others: the entry above it compared with the one below.
    change(lambda: _run(digits, d, 5, 0.80, 0.80), worker=True)
    assert [e.team for e in leaderboards.leaderboard(competition=digits, kind="public")] == list(
        "ACDB"
    )
    # A worse public run with the best private score: selected, it ranks C first in private.
    late_bloomer = _run(digits, c, 2, 0.50, 0.99)
    confidence.submission_intervals_store(submission_id=late_bloomer.pk)
    change(
        lambda: submission_select(
            user=c.memberships.first().user, submission=late_bloomer, selected=True
        )
    )
    assert leaderboards.leaderboard(competition=digits, kind="private")[0].team == "C"
    # Scores recomputed from the kept predictions reorder the boards.
    change(lambda: competition_rescore(actor=staff, competition=digits))
    # B merges into D: B leaves the boards.
    change(
        lambda: team_merge_respond(
            user=d.memberships.first().user,
            merge_request=team_merge_request(
                user=b.memberships.first().user, team=b, target_team_name="D"
            ),
            accept=True,
        )
    )
    # The admin's deletions: a ranked run, then a whole team.
    top = leaderboards.leaderboard(competition=digits, kind="public")[0]
    change(
        lambda: submissions_delete(
            actor=staff, submissions=Submission.objects.filter(pk=top.submission_id)
        )
    )
    change(lambda: teams_delete(actor=staff, teams=Team.objects.filter(pk=c.pk)))
    change(lambda: competition_reveal_private(actor=staff, competition=digits))
    board = leaderboards.leaderboard_for_user(
        user=AnonymousUser(), competition=digits, kind="private"
    )
    assert board and board[-1].not_significant_vs_next is False


def test_a_comparison_the_board_left_behind_is_not_written(digits: Competition) -> None:
    """A task that computed a pair while the board changed under it writes nothing: the
    later change's own task stores the right one."""
    a, b, c = (MembershipFactory(team__competition=digits, team__name=n).team for n in "ABC")
    upper = _run(digits, a, 50, 0.98, 0.98)
    lower = _run(digits, b, 3, 0.67, 0.67)
    confidence.submission_intervals_store(submission_id=upper.pk)
    confidence.submission_intervals_store(submission_id=lower.pk)
    assert ScoreInterval.objects.get(submission=upper, part="public").compared_with == lower.pk
    between = _run(digits, c, 10, 0.90, 0.90)  # now A's neighbour, no interval yet

    rows = confidence._setup(digits)
    assert confidence._store_pair(rows, upper, lower, "public") is False

    assert ScoreInterval.objects.get(submission=upper, part="public").compared_with == lower.pk
    assert confidence.board_comparisons_refresh(competition_id=digits.pk) >= 1
    assert ScoreInterval.objects.get(submission=upper, part="public").compared_with == between.pk
