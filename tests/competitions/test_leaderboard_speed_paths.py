"""The public board's index path (competitions.leaderboards._public_board) against the rules
computed from the rows in Python: best score, ties to the earlier submission then the
lower id, late/debug/unscored never ranked, counts and last submission without late,
debug or cancelled ones."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from factories import CompetitionFactory, SubmissionFactory, TeamFactory, UserFactory

from competitions.leaderboards import leaderboard_for_user, leaderboard_page_for_user
from competitions.models import Competition, Submission

pytestmark = pytest.mark.django_db

T0 = timezone.now() - dt.timedelta(days=5)
S = Submission.Status


def expected(competition: Competition, higher_is_better: bool) -> list[tuple]:
    rows = list(Submission.objects.filter(competition=competition))
    board = []
    for team in {r.team_id for r in rows}:
        mine = [r for r in rows if r.team_id == team and not r.is_late and not r.is_debug]
        counted = [r for r in mine if r.status != S.CANCELLED]
        ranked = [r for r in mine if r.status == S.SCORED and r.public_score is not None]
        if not ranked:
            continue
        sign = -1 if higher_is_better else 1
        best = min(ranked, key=lambda r: (sign * r.public_score, r.created_at, r.pk))
        board.append(
            (
                (sign * best.public_score, best.created_at, best.pk),
                team,
                best.pk,
                best.public_score,
                len(counted),
                max(r.created_at for r in counted),
            )
        )
    board.sort()
    return [(rank, *row[1:]) for rank, row in enumerate(board, start=1)]


@pytest.mark.parametrize(("metric", "higher"), [("accuracy", True), ("rmse", False)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_public_board_follows_the_rules_on_random_rows(metric: str, higher: bool, seed: int):
    rng = random.Random(seed)
    competition = CompetitionFactory(metric=metric, start=T0 - dt.timedelta(days=1))
    scores = [0.25, 0.5, 0.75]  # few values: many ties, within and between teams
    minutes = [0, 1, 2, 3]  # and equal times: ties go on to the id
    for t in range(12):
        team = TeamFactory(competition=competition, name=f"team-{t:02d}")
        for _ in range(rng.randrange(0, 7)):
            status = rng.choice([S.SCORED, S.SCORED, S.SCORED, S.FAILED, S.CANCELLED, S.QUEUED])
            scored = status == S.SCORED
            public = rng.choice([*scores, None]) if scored else None
            SubmissionFactory(
                team=team,
                status=status,
                failure_kind=Submission.FailureKind.RUNTIME_ERROR if status == S.FAILED else "",
                public_score=public,
                private_score=0.5 if scored else None,
                created_at=T0 + dt.timedelta(minutes=rng.choice(minutes)),
                is_late=rng.random() < 0.15,
                is_debug=rng.random() < 0.15,
            )

    board = leaderboard_for_user(user=AnonymousUser(), competition=competition)

    got = [
        (e.rank, e.team_id, e.submission_id, e.score, e.submissions, e.last_submission)
        for e in board
    ]
    assert got == expected(competition, higher)


@pytest.mark.parametrize("kind", ["public", "private"])
def test_a_board_page_is_a_range_of_the_standings_index(kind: str) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    competition = CompetitionFactory(metric="accuracy", start=T0 - dt.timedelta(days=1))
    for score in (0.5, 0.6):
        SubmissionFactory(team=TeamFactory(competition=competition), public_score=score)
    staff = UserFactory(is_staff=True)

    with CaptureQueriesContext(connection) as captured:  # page 2 of 2
        leaderboard_page_for_user(
            user=staff, competition=competition, kind=kind, page=2, page_size=1
        )
    assert len(captured.captured_queries) == 2  # the board's size; the page with the own row
    for query in captured.captured_queries:
        sql = query["sql"]
        assert "competitions_submission" not in sql  # never a scan of submissions
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        # A range (or the last entry) of the stored ranks' index: no scan, no sort.
        assert f"standing_{kind}_page" in plan, plan
        assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
        assert "TEMP B-TREE" not in plan, plan
