"""Final selections, private scores hidden on every path, reveal, shake-up, rescore,
logs, queue, leaderboard cache and bootstrap intervals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from unittest import mock

import pandas as pd
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from factories import (
    CompetitionFactory,
    MembershipFactory,
    SubmissionFactory,
    TeamFactory,
    UserFactory,
)
from sklearn import metrics as skm

from competitions import leaderboards, selectors
from competitions.models import AuditRecord, Competition, Submission, Team, TeamMembership
from competitions.services.results import (
    competition_hide_private,
    competition_rescore,
    competition_reveal_private,
)
from competitions.services.submissions import submission_requeue, submission_select
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db

T0 = timezone.now() - dt.timedelta(days=5)
S = Submission.Status


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def comp() -> Competition:
    return CompetitionFactory(title="Digits", start=T0 - dt.timedelta(days=1))


@pytest.fixture
def m(comp: Competition) -> TeamMembership:
    return MembershipFactory(team__competition=comp, team__name="A")


def run(team: Team, public: float | None, private: float | None = None, minute: int = 0, **kw):
    return SubmissionFactory(
        team=team, public_score=public, private_score=private, created_at=at(minute), **kw
    )


def staff():
    return UserFactory(username="organizer", is_staff=True)


def private_board(comp: Competition):
    return leaderboards.leaderboard_for_user(user=staff(), competition=comp, kind="private")


# final selections


def test_selected_submissions_decide_the_private_score(m: TeamMembership) -> None:
    team = m.team
    run(team, 0.90, 0.70, minute=1)
    run(team, 0.85, 0.75, minute=2)
    chosen = run(team, 0.60, 0.99, minute=3)  # not among the best public ones

    submission_select(user=m.user, submission=chosen, selected=True)

    (entry,) = private_board(m.competition)
    # chosen (0.99) plus the best public one (0.70) fill the two slots
    assert (entry.score, entry.submission_id) == (pytest.approx(0.99), chosen.pk)


def test_two_selections_exclude_the_best_public_submission(m: TeamMembership) -> None:
    team = m.team
    run(team, 0.99, 0.95, minute=1)  # best public and private, but not selected
    a = run(team, 0.50, 0.60, minute=2)
    b = run(team, 0.40, 0.65, minute=3)
    submission_select(user=m.user, submission=a, selected=True)
    submission_select(user=m.user, submission=b, selected=True)

    (entry,) = private_board(m.competition)
    assert entry.score == pytest.approx(0.65)


def test_selection_limit_and_unselect(m: TeamMembership) -> None:
    a, b, c = (run(m.team, 0.5, 0.5, minute=i) for i in range(3))
    submission_select(user=m.user, submission=a, selected=True)
    submission_select(user=m.user, submission=b, selected=True)
    with pytest.raises(ApplicationError) as exc:
        submission_select(user=m.user, submission=c, selected=True)
    assert exc.value.message == (
        "Your team has already chosen 2 final submission(s), the limit is 2. Unselect one first."
    )
    assert exc.value.extra == {"code": "selection_limit"}
    submission_select(user=m.user, submission=a, selected=False)
    assert submission_select(user=m.user, submission=c, selected=True).is_selected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"is_debug": True}, "A debug run cannot be a final submission"),
        ({"is_late": True}, "A late submission cannot be a final submission."),
        (
            {"status": S.FAILED, "failure_kind": "runtime_error", "public_score": None},
            "Only scored submissions can be final submissions; submission",
        ),
    ],
)
def test_only_scored_regular_submissions_can_be_selected(
    m: TeamMembership, kwargs: dict, message: str
) -> None:
    submission = SubmissionFactory(team=m.team, **kwargs)
    with pytest.raises(ApplicationError) as exc:
        submission_select(user=m.user, submission=submission, selected=True)
    assert exc.value.message.startswith(message)


def test_selection_closes_at_the_end(m: TeamMembership) -> None:
    submission = run(m.team, 0.5, 0.5)
    Competition.objects.filter(pk=m.competition.pk).update(end=timezone.now())
    with pytest.raises(ApplicationError, match="could be chosen until the end of Digits"):
        submission_select(user=m.user, submission=submission, selected=True)


def test_other_teams_cannot_select(m: TeamMembership) -> None:
    submission = run(m.team, 0.5, 0.5)
    other = MembershipFactory(team__competition=m.competition).user
    with pytest.raises(ApplicationError, match="Only members of team A"):
        submission_select(user=other, submission=submission, selected=True)


def test_debug_submissions_are_never_ranked(m: TeamMembership) -> None:
    run(m.team, 0.99, None, is_debug=True)
    assert leaderboards.leaderboard_for_user(user=AnonymousUser(), competition=m.competition) == []


def test_a_finished_debug_run_reads_checked_not_scored(m: TeamMembership, client) -> None:
    """A debug run is validated, never scored on hidden labels: no page calls it scored."""
    debug = run(m.team, None, None, is_debug=True, status=S.SCORED)
    regular = run(m.team, 0.5, None, minute=1, status=S.SCORED)
    client.force_login(m.user)
    page = client.get(debug.get_absolute_url()).content.decode()
    assert ">Checked</span>" in page and ">Scored</span>" not in page
    status = client.get(reverse("competitions:submission_status", args=[debug.pk])).json()
    assert status["status"] == "scored" and status["status_display"] == "Checked"
    mine = client.get(reverse("competitions:my_submissions", args=[m.competition.slug]))
    listing = mine.content.decode()
    assert listing.count(">Checked</span>") == 1 and listing.count(">Scored</span>") == 1
    assert client.get(regular.get_absolute_url()).content.decode().count(">Scored</span>") == 1


# hidden until the reveal, on every selector path


def test_private_scores_hidden_on_every_participant_path_before_reveal(
    m: TeamMembership,
) -> None:
    submission = run(m.team, 0.6, 0.7)
    comp = m.competition
    listed = selectors.submissions_for_user(user=m.user, competition=comp)

    assert [s.private_score for s in listed] == [None]
    assert listed.first().private_score is None
    assert listed.get(pk=submission.pk).private_score is None
    assert [s.private_score for s in listed.filter(public_score__gt=0)] == [None]
    assert listed[0].private_score is None
    assert selectors.submission_get_for_user(user=m.user, pk=submission.pk).private_score is None
    with pytest.raises(ApplicationError, match="hidden until the competition ends"):
        leaderboards.leaderboard_for_user(user=m.user, competition=comp, kind="private")
    with pytest.raises(ApplicationError, match="shown once the private leaderboard"):
        leaderboards.shakeup_for_user(user=m.user, competition=comp)
    # the database keeps it
    submission.refresh_from_db()
    assert submission.private_score == pytest.approx(0.7)


def test_organizers_see_private_scores_before_reveal(m: TeamMembership) -> None:
    submission = run(m.team, 0.6, 0.7)
    got = selectors.submission_get_for_user(user=staff(), pk=submission.pk)
    assert got.private_score == pytest.approx(0.7)


def test_reveal_shows_private_scores_and_shakeup_then_hide_hides_them(
    m: TeamMembership,
) -> None:
    comp = m.competition
    b = TeamFactory(competition=comp, name="B")
    run(m.team, 0.9, 0.6, minute=1)
    run(b, 0.8, 0.7, minute=2)
    organizer = staff()

    competition_reveal_private(actor=organizer, competition=comp)

    comp.refresh_from_db()
    listed = selectors.submissions_for_user(user=m.user, competition=comp)
    assert [s.private_score for s in listed] == [pytest.approx(0.6)]
    board = leaderboards.leaderboard_for_user(user=m.user, competition=comp, kind="private")
    assert [(e.team, e.rank, e.public_rank) for e in board] == [("B", 1, 2), ("A", 2, 1)]
    assert leaderboards.shakeup_for_user(user=m.user, competition=comp) == [
        {"team": "B", "team_id": b.pk, "public_rank": 2, "private_rank": 1, "delta": 1},
        {"team": "A", "team_id": m.team.pk, "public_rank": 1, "private_rank": 2, "delta": -1},
    ]

    competition_hide_private(actor=organizer, competition=comp)
    comp.refresh_from_db()
    assert [
        s.private_score for s in selectors.submissions_for_user(user=m.user, competition=comp)
    ] == [None]
    actions = list(AuditRecord.objects.filter(competition=comp).values_list("action", flat=True))
    assert actions == ["hide", "reveal"]


def test_participants_cannot_reveal_hide_or_rescore(m: TeamMembership) -> None:
    for action in (competition_reveal_private, competition_hide_private, competition_rescore):
        with pytest.raises(ApplicationError, match="Only organizers can"):
            action(actor=m.user, competition=m.competition)
    assert not AuditRecord.objects.exists()


# logs and queue


@pytest.mark.parametrize(
    ("visibility", "debug", "expected"),
    [("hidden", False, None), ("tail", False, "the log"), ("hidden", True, "the log")],
)
def test_log_visibility(m: TeamMembership, visibility: str, debug: bool, expected) -> None:
    Competition.objects.filter(pk=m.competition.pk).update(log_visibility=visibility)
    submission = run(m.team, 0.5, 0.5, is_debug=debug, log_tail="the log")
    submission.refresh_from_db()
    assert selectors.submission_log_for_user(user=m.user, submission=submission) == expected
    assert selectors.submission_log_for_user(user=staff(), submission=submission) == "the log"
    stranger = MembershipFactory(team__competition=m.competition).user
    assert selectors.submission_log_for_user(user=stranger, submission=submission) is None


def test_queue_position_is_fifo_across_teams(comp: Competition) -> None:
    a, b = TeamFactory(competition=comp), TeamFactory(competition=comp)
    first = run(a, None, status=S.QUEUED, minute=1)
    second = run(b, None, status=S.QUEUED, minute=2)
    third = run(a, None, status=S.QUEUED, minute=3)
    running = run(b, None, status=S.RUNNING, minute=0)
    positions = [selectors.submission_queue_position(submission=s) for s in (first, second, third)]
    assert positions == [1, 2, 3]
    assert selectors.submission_queue_position(submission=running) is None
    overview = selectors.queue_overview(user=staff())
    assert [s.pk for s in overview["queued"]] == [first.pk, second.pk, third.pk]
    assert [s.pk for s in overview["running"]] == [running.pk]


def test_requeue_puts_failed_runs_back_and_audits(comp: Competition) -> None:
    team = TeamFactory(competition=comp)
    failed = run(team, None, status=S.FAILED, failure_kind="platform_error", worker="w1")
    scored = run(team, 0.5, 0.5)
    with mock.patch("competitions.evaluation.tasks.enqueue_evaluation") as enqueue:
        with pytest.raises(ApplicationError):
            submission_requeue(actor=UserFactory(), submissions=Submission.objects.all())
        with mock.patch("django.db.transaction.on_commit", side_effect=lambda f: f()):
            assert submission_requeue(actor=staff(), submissions=Submission.objects.all()) == 1
    enqueue.assert_called_once_with(failed.pk)
    failed.refresh_from_db()
    scored.refresh_from_db()
    assert (failed.status, failed.failure_kind, failed.worker) == (S.QUEUED, "", "")
    assert scored.status == S.SCORED
    assert AuditRecord.objects.get(action="requeue").details == {"submissions": [failed.pk]}


# the board maintained on write


def test_board_follows_scoring_at_once(m: TeamMembership) -> None:
    from competitions.evaluation.pipeline import _scored

    comp = m.competition
    run(m.team, 0.5, 0.5)
    board = leaderboards.leaderboard_for_user(user=AnonymousUser(), competition=comp)
    assert [e.score for e in board] == [pytest.approx(0.5)]

    pending = run(m.team, None, None, status=S.RUNNING)
    _scored(pending.pk, public_score=0.8, private_score=0.1)

    board = leaderboards.leaderboard_for_user(user=AnonymousUser(), competition=comp)
    assert [(e.score, e.submissions) for e in board] == [(pytest.approx(0.8), 2)]


def test_board_page_reads_no_submissions(m: TeamMembership, django_assert_num_queries) -> None:
    run(m.team, 0.5, 0.5)
    with django_assert_num_queries(2) as captured:  # count, page with its stored intervals
        leaderboards.leaderboard_page_for_user(user=AnonymousUser(), competition=m.competition)
    assert not any("competitions_submission" in q["sql"] for q in captured.captured_queries)


# rescore and intervals, on the digits bundle (a real solution)


@pytest.fixture
def kept(digits: Competition) -> Iterator:
    """Make a scored submission whose kept predictions are given as {id: label}."""
    solution = pd.read_csv(digits.files.get(kind="solution").file.path)

    def make(
        team: Team,
        labels: dict | None = None,
        wrong_every: int = 0,
        also_wrong: tuple[int, ...] = (),
        **kw,
    ) -> Submission:
        frame = solution[["id", "label"]].copy()
        wrong = frame.index.isin(also_wrong)
        if wrong_every:
            wrong |= frame.index % wrong_every == 0
        frame.loc[wrong, "label"] = (frame.loc[wrong, "label"] + 1) % 10
        content = frame.to_csv(index=False).encode()
        scores = {"public_score": 0.0, "private_score": 0.0, **kw}
        return SubmissionFactory(
            team=team, predictions=ContentFile(content, name="predictions.csv"), **scores
        )

    yield make


def test_rescore_recomputes_from_kept_predictions_and_audits(digits: Competition, kept) -> None:
    team = TeamFactory(competition=digits, name="T")
    perfect = kept(team)
    invalid = kept(
        team,
        status=S.FAILED,
        failure_kind="invalid_predictions",
        failure_message="old",
        public_score=None,
        private_score=None,
    )
    broken = SubmissionFactory(team=team, predictions=ContentFile(b"id,label\n", name="p.csv"))
    debug = kept(team, is_debug=True)

    count = competition_rescore(actor=staff(), competition=digits)

    assert count == 3
    perfect.refresh_from_db()
    invalid.refresh_from_db()
    broken.refresh_from_db()
    debug.refresh_from_db()
    assert (perfect.public_score, perfect.private_score) == (1.0, 1.0)
    assert (invalid.status, invalid.public_score, invalid.failure_kind) == (S.SCORED, 1.0, "")
    assert (broken.status, broken.failure_kind) == (S.FAILED, "invalid_predictions")
    assert broken.public_score is None
    assert debug.public_score == 0.0  # debug runs are not rescored
    audit = AuditRecord.objects.get(action="rescore")
    assert {k: audit.details[k] for k in ("rescored", "changed", "now_scored", "now_failed")} == {
        "rescored": 3,
        "changed": 3,
        "now_scored": 1,
        "now_failed": 1,
    }
    change = next(c for c in audit.details["changes"] if c["submission"] == perfect.pk)
    assert change["public_score"] == [0.0, 1.0]


def test_rescore_fills_in_additional_metrics_declared_after_scoring(
    digits: Competition, kept
) -> None:
    """Declaring an additional metric later: a rescore computes it on the same parts, the
    boards show it, and the ranking (the main scores) does not move."""
    digits.additional_metrics = []
    digits.save(update_fields=["additional_metrics"])
    team = TeamFactory(competition=digits, name="T")
    run = kept(team, wrong_every=3)
    competition_rescore(actor=staff(), competition=digits)
    run.refresh_from_db()
    before = (run.public_score, run.private_score)
    assert run.public_additional_scores == {}

    digits.additional_metrics = ["f1_macro"]
    digits.save(update_fields=["additional_metrics"])
    assert competition_rescore(actor=staff(), competition=digits) == 1

    run.refresh_from_db()
    assert (run.public_score, run.private_score) == before
    solution = pd.read_csv(digits.files.get(kind="solution").file.path)
    predicted = solution["label"].where(solution.index % 3 != 0, (solution["label"] + 1) % 10)
    for part, stored in (
        ("Public", run.public_additional_scores),
        ("Private", run.private_additional_scores),
    ):
        rows = solution["Usage"] == part
        expected = skm.f1_score(solution.loc[rows, "label"], predicted[rows], average="macro")
        assert stored == {"f1_macro": pytest.approx(expected)}
    audit = AuditRecord.objects.filter(action="rescore").latest("pk")
    assert audit.details["changed"] == 1
    (change,) = audit.details["changes"]
    assert change["public_additional_scores"] == [{}, run.public_additional_scores]
    (entry,) = leaderboards.leaderboard_for_user(user=AnonymousUser(), competition=digits)
    assert entry.additional == (("f1_macro", run.public_additional_scores["f1_macro"]),)


def test_rescore_task_runs_the_service(digits: Competition, kept) -> None:
    from competitions.evaluation.tasks import rescore_competition

    kept(TeamFactory(competition=digits))
    assert rescore_competition.run(digits.pk, staff().pk) == 1
    assert AuditRecord.objects.get(action="rescore").actor.username == "organizer"


def test_rescore_task_stores_intervals_and_neighbour_tests(digits: Competition, kept) -> None:
    from competitions.evaluation.confidence import competition_intervals_refresh

    a, b, c = (TeamFactory(competition=digits, name=n) for n in "ABC")
    kept(a, wrong_every=50)
    # A's mistakes and one more: B never beats A, whichever rows the secret split made
    # public, and the two are not significantly different.
    kept(b, wrong_every=50, also_wrong=(1,))
    kept(c, wrong_every=3)
    competition_rescore(actor=staff(), competition=digits)
    board = leaderboards.leaderboard_for_user(user=AnonymousUser(), competition=digits)
    assert all(e.ci_low is None for e in board)  # not computed yet: never in a request
    assert competition_intervals_refresh(competition_id=digits.pk) == 6  # 3 teams, 2 parts

    board = leaderboards.leaderboard_for_user(user=AnonymousUser(), competition=digits)

    assert [e.team for e in board] == ["A", "B", "C"]
    for entry in board:
        assert entry.ci_low is not None and entry.ci_low <= entry.score <= entry.ci_high
    assert board[0].not_significant_vs_next is True
    assert board[1].not_significant_vs_next is False  # 98% vs 67%
    assert board[2].not_significant_vs_next is False


def test_a_stored_interval_stays_inside_the_metrics_possible_scores(
    digits: Competition, kept, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An asymptotic interval can pass the metric's range (an F1 of 1.0005 was seen on the
    qa demo); what is stored and shown is cut to it (accuracy: 0 to 1)."""
    from competitions.evaluation import confidence
    from scoring.intervals import Estimate

    kept(TeamFactory(competition=digits, name="A"), wrong_every=50)
    competition_rescore(actor=staff(), competition=digits)
    monkeypatch.setattr(
        confidence,
        "score_interval",
        lambda *a, **k: Estimate(low=-0.25, high=1.0005, std=0.01, method="delta"),
    )
    assert confidence.competition_intervals_refresh(competition_id=digits.pk) == 2
    (entry,) = leaderboards.leaderboard_for_user(user=AnonymousUser(), competition=digits)
    assert (entry.ci_low, entry.ci_high) == (0.0, 1.0)
