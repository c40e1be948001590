"""The board maintained on write equals a from-scratch computation after any sequence of
events (competitions.standings): runs created, scored, failed, cancelled, requeued; late
and debug runs; rescores (scores changed, scored runs turned invalid and back); final
selections; team merges and moves; runs and teams deleted; reveal and hide of the private board.

Events go through the services and transitions that the product calls; the oracle below
is written from the ranking rules alone, over every submission of the competition.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from competitions import standings
from competitions.evaluation import transitions
from competitions.leaderboards import leaderboard, leaderboard_for_user, leaderboard_page_for_user
from competitions.models import Competition, Submission, Team, TeamMembership, TeamStanding
from competitions.services.results import competition_hide_private, competition_reveal_private
from competitions.services.submissions import (
    submission_requeue,
    submission_select,
    submissions_delete,
)
from competitions.services.teams import team_merge_request, team_merge_respond, teams_delete
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db

S = Submission.Status
SCORES = [0.25, 0.5, 0.75, 0.25, 0.5, 0.75, None]
TEAMS = 3
T0 = timezone.now() - dt.timedelta(days=3)


def oracle(competition: Competition, kind: str) -> list[tuple]:
    """(rank, team id, score, submissions, last submission, submission id, public rank)
    from every submission, by the rules: ties to the earlier submission, then lower id."""
    higher = competition.metric == "accuracy"
    sign = -1.0 if higher else 1.0
    teams: dict[int, list[Submission]] = {}
    for s in Submission.objects.filter(competition=competition):
        teams.setdefault(s.team_id, []).append(s)
    public, private, counts = {}, {}, {}
    for team_id, subs in teams.items():
        ranked = [s for s in subs if not s.is_late and not s.is_debug]
        counted = [s for s in ranked if s.status != S.CANCELLED]
        counts[team_id] = (len(counted), max((s.created_at for s in counted), default=None))
        ok = [s for s in ranked if s.status == S.SCORED and s.public_score is not None]
        if not ok:
            continue
        public[team_id] = min(ok, key=lambda s: (sign * s.public_score, s.created_at, s.pk))
        finals = sorted(
            ok, key=lambda s: (not s.is_selected, sign * s.public_score, s.created_at, s.pk)
        )[: max(1, competition.final_selections)]
        finals = [s for s in finals if s.private_score is not None]
        if finals:
            private[team_id] = min(
                finals, key=lambda s: (sign * s.private_score, s.created_at, s.pk)
            )

    def board(best: dict[int, Submission], score: str) -> list[int]:
        return sorted(
            best, key=lambda t: (sign * getattr(best[t], score), best[t].created_at, best[t].pk)
        )

    public_order = board(public, "public_score")
    public_rank = {t: i for i, t in enumerate(public_order, 1)}
    best, order = (public, public_order) if kind == "public" else (private, None)
    order = order or board(private, "private_score")
    return [
        (
            rank,
            t,
            getattr(best[t], f"{kind}_score"),
            *counts[t],
            best[t].pk,
            public_rank.get(t) if kind == "private" else None,
        )
        for rank, t in enumerate(order, 1)
    ]


def read(entries) -> list[tuple]:
    return [
        (
            e.rank,
            e.team_id,
            e.score,
            e.submissions,
            e.last_submission,
            e.submission_id,
            e.public_rank,
        )
        for e in entries
    ]


class World:
    def __init__(self, metric: str, final_selections: int) -> None:
        self.competition = CompetitionFactory(
            metric=metric,
            start=T0 - dt.timedelta(days=1),
            end=timezone.now() + dt.timedelta(days=5),
            daily_submission_limit=1000,
            final_selections=final_selections,
        )
        self.teams = [
            MembershipFactory(team__competition=self.competition, team__name=f"t{i}").team
            for i in range(TEAMS)
        ]
        self.staff = UserFactory(username="organizer", is_staff=True)
        self.step = 0

    def team(self, i: int) -> Team | None:
        alive = list(Team.objects.filter(competition=self.competition).order_by("pk"))
        return alive[i % len(alive)] if alive else None

    def member(self, team: Team):
        return TeamMembership.objects.filter(team=team).first().user

    def submission(self, i: int, **where) -> Submission | None:
        subs = list(Submission.objects.filter(competition=self.competition, **where).order_by("pk"))
        return subs[i % len(subs)] if subs else None

    def run(self, team_i: int, public, private, outcome: str, late: bool, debug: bool) -> None:
        team = self.team(team_i)
        if team is None:
            return
        self.step += 1
        new = SubmissionFactory.build(
            team=team,
            competition=self.competition,
            user=self.member(team),
            # Some runs share a creation time: the tie goes to the lower id.
            created_at=T0 + dt.timedelta(minutes=self.step // 2),
            is_late=late,
            is_debug=debug,
            public_score=None,
            private_score=None,
        )
        transitions.create(new)
        if outcome == "queued":
            return
        if outcome == "cancelled":
            transitions.cancel(submission_id=new.pk)
            return
        transitions.claim(submission_id=new.pk, owner="w/1", lease_seconds=60)
        if outcome == "failed" or (public is None and private is None and not debug):
            transitions.fail(
                submission_id=new.pk, owner="w/1", kind="runtime_error", message="exit 1"
            )
        else:
            transitions.score(
                submission_id=new.pk, owner="w/1", public_score=public, private_score=private
            )

    def rescore(self, sub_i: int, public, private) -> None:
        s = self.submission(sub_i, status__in=[S.SCORED, S.FAILED], is_debug=False)
        if s is None:
            return
        if public is None and private is None:  # now invalid predictions
            transitions.rescore(
                submission_id=s.pk,
                seen_status=s.status,
                scored=False,
                failure_kind="invalid_predictions",
                public_score=None,
                private_score=None,
                is_selected=False,
            )
        else:
            transitions.rescore(
                submission_id=s.pk,
                seen_status=s.status,
                scored=True,
                failure_kind="",
                public_score=public,
                private_score=private,
            )

    def select(self, sub_i: int, selected: bool) -> None:
        s = self.submission(
            sub_i, status=S.SCORED, public_score__isnull=False, is_selected=not selected
        )
        if s is not None:
            submission_select(user=self.member(s.team), submission=s, selected=selected)

    def merge(self, a: int, b: int) -> None:
        source, target = self.team(a), self.team(b)
        if source is None or source.pk == target.pk:
            return
        request = team_merge_request(
            user=self.member(source), team=source, target_team_name=target.name
        )
        team_merge_respond(user=self.member(target), merge_request=request, accept=True)

    def requeue(self, sub_i: int) -> None:
        s = self.submission(sub_i)
        if s is not None:
            submission_requeue(actor=self.staff, submissions=Submission.objects.filter(pk=s.pk))

    def delete(self, sub_i: int) -> None:
        """An organizer deletes a run (the admin's page and "delete selected")."""
        s = self.submission(sub_i)
        if s is not None:
            submissions_delete(actor=self.staff, submissions=Submission.objects.filter(pk=s.pk))

    def delete_team(self, team_i: int) -> None:
        """An organizer deletes a team (the admin's page and "delete selected")."""
        team = self.team(team_i)
        if team is not None and Team.objects.filter(competition=self.competition).count() > 1:
            teams_delete(actor=self.staff, teams=Team.objects.filter(pk=team.pk))

    def reveal(self, show: bool) -> None:
        action = competition_reveal_private if show else competition_hide_private
        action(actor=self.staff, competition=self.competition)


score = st.sampled_from(SCORES)
index = st.integers(0, 30)
run = st.tuples(
    st.just("run"),
    st.integers(0, TEAMS - 1),
    score,
    score,
    st.sampled_from(["scored", "scored", "scored", "failed", "cancelled", "queued"]),
    st.sampled_from([False, False, False, True]),  # late
    st.sampled_from([False, False, False, True]),  # debug
)
events = st.lists(
    st.one_of(
        run,
        run,
        run,
        st.tuples(st.just("rescore"), index, score, score),
        st.tuples(st.just("select"), index, st.booleans()),
        st.tuples(st.just("merge"), st.integers(0, TEAMS - 1), st.integers(0, TEAMS - 1)),
        st.tuples(st.just("requeue"), index),
        st.tuples(st.just("delete"), index),
        st.tuples(st.just("delete_team"), st.integers(0, TEAMS - 1)),
        st.tuples(st.just("reveal"), st.booleans()),
    ),
    min_size=10,
    max_size=30,
)


def check(world: World) -> None:
    competition = Competition.objects.get(pk=world.competition.pk)
    for kind in ("public", "private"):
        expected = oracle(competition, kind)
        assert read(leaderboard(competition=competition, kind=kind)) == expected
        # Pages of two, and each team's own row wherever it ranks.
        pages = []
        for page in range(1, len(expected) // 2 + 2):
            got = leaderboard_page_for_user(
                user=world.staff, competition=competition, kind=kind, page=page, page_size=2
            )
            assert got.total == len(expected)
            pages += read(got.entries)
        assert pages == expected
        for team in Team.objects.filter(competition=competition):
            own = leaderboard_page_for_user(
                user=world.staff, competition=competition, kind=kind, page_size=1, team=team
            ).own
            mine = [row for row in expected if row[1] == team.pk]
            assert ([] if own is None else read([own])) == mine
    # The private board stays hidden from participants before the end unless revealed.
    if competition.private_revealed_at is None:
        with pytest.raises(ApplicationError):
            leaderboard_for_user(user=AnonymousUser(), competition=competition, kind="private")
    else:
        assert read(
            leaderboard_for_user(user=AnonymousUser(), competition=competition, kind="private")
        ) == oracle(competition, "private")
    # A rebuild from scratch stores the same standings.
    before = list(TeamStanding.objects.filter(competition=competition).order_by("pk").values())
    standings.standings_rebuild(competition_id=competition.pk)
    after = list(TeamStanding.objects.filter(competition=competition).order_by("pk").values())
    assert before == after


@pytest.mark.parametrize("metric", ["accuracy", "rmse"])
def test_board_maintained_on_write_equals_a_computation_from_scratch(metric: str) -> None:
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(events, st.integers(1, 2))
    def sequence(steps, final_selections: int) -> None:
        with transaction.atomic():
            world = World(metric, final_selections)
            for name, *args in steps:
                try:
                    with transaction.atomic():
                        getattr(world, name)(*args)
                except ApplicationError:
                    pass  # refused (a limit, a rule): nothing changed
                check(world)
            transaction.set_rollback(True)

    sequence()
