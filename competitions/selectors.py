"""Queries that decide what a user may see.

Hidden labels, test inputs, other teams' runs and private scores are reachable only
through the functions here; views and API views never query those models themselves.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db.models import (
    Q,
    QuerySet,
)
from django.db.models.query import ModelIterable
from django.http import Http404
from rest_framework.authtoken.models import Token

from competitions import run_reports
from competitions.models import (
    Account,
    Competition,
    CompetitionFile,
    ComputeQueue,
    Notification,
    Submission,
    Team,
    TeamInvitation,
    TeamMembership,
    TeamMergeRequest,
)

User = AuthUser | AnonymousUser


def _is_organizer(user: User) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def competition_list(*, user: User) -> QuerySet[Competition]:
    """The competitions a user may see: published ones; organizers also see drafts."""
    competitions = Competition.objects.all()
    if _is_organizer(user):
        return competitions
    return competitions.filter(published_at__isnull=False)


def competition_get(*, slug: str, user: User) -> Competition:
    """One competition the user may see; a draft is 404 for everybody but organizers
    (the same answer as a slug that does not exist, so drafts leak nothing)."""
    try:
        return competition_list(user=user).get(slug=slug)
    except Competition.DoesNotExist as exc:
        raise Http404(f"No competition {slug!r}.") from exc


def competitions_organized_by(*, user: User) -> QuerySet[Competition]:
    """The competitions ``user`` organizes. Podium has no per-competition organizer list:
    in the admin, a staff user who may change competitions (the superuser, or staff given
    ``competitions.change_competition``) organizes every one; anybody else none. This is
    the one place to change when competitions get their own organizers."""
    if user.is_authenticated and user.is_staff and user.has_perm("competitions.change_competition"):
        return Competition.objects.all()
    return Competition.objects.none()


def compute_queues_for_user(*, user: User) -> QuerySet[ComputeQueue]:
    """The organizer compute queues ``user`` may see and manage: the superuser all, a
    staff organizer their own, anybody else none."""
    if user.is_authenticated and user.is_superuser:
        return ComputeQueue.objects.all()
    if user.is_authenticated and user.is_staff:
        return ComputeQueue.objects.filter(owner_id=user.pk)
    return ComputeQueue.objects.none()


def team_for_user(*, user: User, competition: Competition) -> Team | None:
    if not user.is_authenticated:
        return None
    return Team.objects.filter(competition=competition, memberships__user=user).first()


def team_get_for_user(*, user: User, competition: Competition) -> Team:
    """The user's team in the competition. Raises Http404 ("You have not joined ...") for a
    user who has not joined it, an anonymous one included."""
    team = team_for_user(user=user, competition=competition)
    if team is None:
        raise Http404(f"You have not joined {competition.title}.")
    return team


def private_scores_visible(*, user: User, competition: Competition) -> bool:
    """Organizers always; participants only after the end or the organizer's reveal."""
    return _is_organizer(user) or competition.private_leaderboard_visible


def competition_files_for_user(
    *, user: User, competition: Competition
) -> QuerySet[CompetitionFile]:
    """The files a user may download: train data and the sample submission, and only
    for members who accepted the competition's rules (Kaggle's rule); never the test
    inputs or the solution. Organizers see all."""
    files = competition.files.all()
    if _is_organizer(user):
        return files
    if not data_download_allowed(user=user, competition=competition):
        return files.none()
    return files.filter(
        kind__in=[CompetitionFile.Kind.TRAIN, CompetitionFile.Kind.SAMPLE_SUBMISSION]
    )


def data_download_allowed(*, user: User, competition: Competition) -> bool:
    """Whether the user may download the competition's public data: organizers, and
    members of a team who accepted the rules."""
    if _is_organizer(user):
        return True
    return bool(
        user.is_authenticated
        and TeamMembership.objects.filter(
            competition=competition, user_id=user.pk, rules_accepted_at__isnull=False
        ).exists()
    )


def competition_file_get_for_user(
    *, user: User, competition: Competition, pk: int
) -> CompetitionFile:
    try:
        return competition_files_for_user(user=user, competition=competition).get(pk=pk)
    except CompetitionFile.DoesNotExist as exc:
        raise Http404("No such file.") from exc


def _presented(queryset: QuerySet[Submission], *, user: User) -> QuerySet[Submission]:
    """Make every object the queryset yields show only what ``user`` may see of its run
    (competitions.run_reports: private score, messages, usage, exit code, log). Such
    objects are for display: services reload a submission before writing."""

    class PresentedIterable(ModelIterable):
        def __iter__(self):
            for obj in super().__iter__():
                yield run_reports.submission_present(user=user, submission=obj)

    presented = queryset.all()
    presented._iterable_class = PresentedIterable
    return presented


def submissions_for_user(*, user: User, competition: Competition) -> QuerySet[Submission]:
    """The submissions of the user's team in this competition (none for strangers), each
    showing only what the user may see of its run (competitions.run_reports)."""
    team = team_for_user(user=user, competition=competition)
    if team is None:
        return Submission.objects.none()
    queryset = team.submissions.select_related(
        "user", "team", "competition", "runtime_image"
    ).order_by("-created_at")
    return _presented(queryset, user=user)


def submission_get_for_user(*, user: User, pk: int) -> Submission:
    """A submission of the user's own team; anyone else's is 404, not 403, so that ids
    of other teams' runs leak nothing. It shows only what the user may see of its run
    (competitions.run_reports): the private score is blanked until the user may see it."""
    queryset = Submission.objects.select_related("competition", "team", "user", "runtime_image")
    if not _is_organizer(user):
        if not user.is_authenticated:
            raise Http404("No such submission.")
        queryset = queryset.filter(team__memberships__user=user)
    try:
        submission = queryset.get(pk=pk)
    except Submission.DoesNotExist as exc:
        raise Http404("No such submission.") from exc
    return run_reports.submission_present(user=user, submission=submission)


def _can_see_submission(user: User, submission: Submission) -> bool:
    if _is_organizer(user):
        return True
    return bool(
        user.is_authenticated and submission.team.memberships.filter(user_id=user.pk).exists()
    )


def submission_log_for_user(*, user: User, submission: Submission) -> str | None:
    """The run's log tail, or None when the user may not read it.

    Organizers read every log; a team reads its debug runs' logs, and its scored runs'
    logs only where the organizer set log_visibility to "tail" (hidden by default: a log
    could print the hidden test inputs). The decision is competitions.run_reports'.
    """
    if not _can_see_submission(user, submission):
        return None
    report = getattr(submission, "run_report", None)
    if report is None:
        report = run_reports.run_report_for_user(user=user, submission=submission)
    return report.log


def submission_queue_position(*, submission: Submission) -> int | None:
    """1-based place among all queued submissions (every team, oldest first)."""
    if submission.status != Submission.Status.QUEUED:
        return None
    ahead = Submission.objects.filter(status=Submission.Status.QUEUED).filter(
        Q(created_at__lt=submission.created_at)
        | Q(created_at=submission.created_at, pk__lt=submission.pk)
    )
    return ahead.count() + 1


def queue_overview(*, user: User) -> dict[str, list[Submission]]:
    """What runs where (running, with worker and start) and what waits, in order."""
    if not _is_organizer(user):
        raise Http404("No such page.")
    base = Submission.objects.select_related("competition", "team", "user")
    return {
        "running": list(base.filter(status=Submission.Status.RUNNING).order_by("started_at")),
        "queued": list(base.filter(status=Submission.Status.QUEUED).order_by("created_at", "pk")),
    }


# Teams


def team_members(*, team: Team) -> list[Any]:
    return list(
        get_user_model()
        .objects.filter(team_memberships__team=team)
        .order_by("team_memberships__joined_at", "pk")
    )


def invitations_for_user(
    *, user: User, competition: Competition | None = None
) -> QuerySet[TeamInvitation]:
    """Pending invitations addressed to the user."""
    if not user.is_authenticated:
        return TeamInvitation.objects.none()
    queryset = TeamInvitation.objects.filter(
        invitee=user, status=TeamInvitation.Status.PENDING
    ).select_related("team__competition", "invited_by")
    if competition is not None:
        queryset = queryset.filter(team__competition=competition)
    return queryset


def invitations_for_team(*, team: Team) -> QuerySet[TeamInvitation]:
    """Pending invitations the team sent."""
    return TeamInvitation.objects.filter(
        team=team, status=TeamInvitation.Status.PENDING
    ).select_related("invitee", "invited_by")


def merge_requests_for_team(*, team: Team) -> QuerySet[TeamMergeRequest]:
    """Pending merge requests the team sent or received."""
    return (
        TeamMergeRequest.objects.filter(Q(source=team) | Q(target=team))
        .filter(status=TeamMergeRequest.Status.PENDING)
        .select_related("source", "target", "requested_by")
    )


def invitation_get_for_user(*, user: User, pk: int) -> TeamInvitation:
    """A pending invitation addressed to the user. Raises Http404 otherwise (any other
    invitation's existence is not told)."""
    return _get_or_404(invitations_for_user(user=user), pk, "invitation")


def invitation_get_for_team(*, team: Team, pk: int) -> TeamInvitation:
    """A pending invitation the team sent. Raises Http404 otherwise."""
    return _get_or_404(invitations_for_team(team=team), pk, "invitation")


def merge_request_get_for_team(
    *, team: Team, pk: int, received_only: bool = False
) -> TeamMergeRequest:
    """A pending merge request the team sent or (``received_only``: only) received.
    Raises Http404 otherwise."""
    found = merge_requests_for_team(team=team)
    if received_only:
        found = found.filter(target=team)
    return _get_or_404(found, pk, "merge request")


def token_for_user(*, user: User) -> Token | None:
    """The user's API token, None before one was made."""
    if not user.is_authenticated:
        return None
    return Token.objects.filter(user=user).first()


def _get_or_404(found: QuerySet[Any], pk: int, what: str) -> Any:
    try:
        return found.get(pk=pk)
    except found.model.DoesNotExist as exc:
        raise Http404(f"No such {what}.") from exc


def submissions_stale(*, competition: Competition) -> QuerySet[Submission]:
    """Ranked submissions whose scores (or invalid-predictions verdict) come from another
    solution than the one stored now: stale until a rescore (organizers only)."""
    current = (
        competition.files.filter(kind=CompetitionFile.Kind.SOLUTION)
        .values_list("sha256", flat=True)
        .first()
    )
    if current is None:
        return Submission.objects.none()
    return (
        Submission.objects.filter(competition=competition, is_debug=False)
        .filter(
            Q(status=Submission.Status.SCORED)
            | Q(
                status=Submission.Status.FAILED,
                failure_kind=Submission.FailureKind.INVALID_PREDICTIONS,
            )
        )
        .exclude(scored_solution_sha256="")
        .exclude(scored_solution_sha256=current)
    )


def notifications_unread_for_user(*, user: AuthUser) -> QuerySet[Notification]:
    """The user's unread notifications that still matter (an invitation that was answered
    or cancelled no longer counts)."""
    return Notification.objects.filter(user=user, read_at__isnull=True).filter(
        Q(invitation__isnull=True) | Q(invitation__status=TeamInvitation.Status.PENDING)
    )


def notifications_for_user(*, user: AuthUser, limit: int = 50) -> QuerySet[Notification]:
    """The user's latest notifications, newest first, with what the page shows of each."""
    return Notification.objects.filter(user=user).select_related(
        "submission__competition", "invitation__team__competition", "invitation__invited_by"
    )[:limit]


def notify_by_email_for_user(*, user: AuthUser) -> bool:
    """Whether the user turned e-mail notifications on."""
    return Account.objects.filter(user=user, notify_by_email=True).exists()
