"""Notifications: a finished run and a team invitation become a row the site's header
counts (the badge), and an e-mail for users who opted in.

What a notification says about a run comes from competitions.run_reports, the one
channel from a run to a participant. E-mails leave after the transaction commits; a mail
server that fails is logged and never fails the run or the invitation.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from competitions.models import Account, Notification, Submission, TeamInvitation
from competitions.run_reports import run_report_for_user

logger = logging.getLogger(__name__)

FINISHED = (Submission.Status.SCORED, Submission.Status.FAILED)


def _wants_email(user: User) -> bool:
    address = getattr(user, "email", "")
    if not address:
        return False
    return Account.objects.filter(user=user, notify_by_email=True).exists()


def _send_later(*, user: User, subject: str, body: str) -> None:
    address = getattr(user, "email", "")

    def send() -> None:
        try:
            send_mail(subject, body, None, [address])
        except Exception:
            logger.exception("could not send the notification e-mail to user %s", user.pk)

    transaction.on_commit(send)


def _record(**fields) -> bool:
    """Create the notification unless it exists; True when this call made it."""
    try:
        with transaction.atomic():
            Notification.objects.create(**fields)
    except IntegrityError:
        return False
    return True


def run_summary(*, user: User, submission: Submission) -> str:
    """One line about a finished run as ``user`` may see it (through run_reports)."""
    report = run_report_for_user(user=user, submission=submission)
    what = "debug run" if submission.is_debug else "submission"
    line = (
        f"Your {what} #{submission.pk} in {submission.competition.title} "
        f"finished: {submission.status_label.lower()}."
    )
    if submission.status == Submission.Status.SCORED and report.public_score is not None:
        line += f" Public score: {report.public_score:.6g}."
    if report.failure_message:
        line += f" {report.failure_message}"
    if report.note:
        line += f" {report.note}"
    return line


def notification_run_finished(*, submission_id: int) -> Notification | None:
    """Tell the run's submitter that it finished (scored or failed); idempotent.

    Returns the new notification, or None when the run is not finished or was already
    notified. Sends an e-mail if the submitter opted in.
    """
    submission = (
        Submission.objects.select_related("competition", "user").filter(pk=submission_id).first()
    )
    if submission is None or submission.status not in FINISHED:
        return None
    user = submission.user
    if not _record(user=user, kind=Notification.Kind.RUN_FINISHED, submission=submission):
        return None
    if _wants_email(user):
        url = settings.PODIUM_SITE_URL + submission.get_absolute_url()
        _send_later(
            user=user,
            subject=f"[Podium] {submission.competition.title}: run #{submission.pk} "
            f"{submission.status_label.lower()}",
            body=f"{run_summary(user=user, submission=submission)}\n\n{url}\n\n{_FOOTER}",
        )
    return Notification.objects.get(user=user, submission=submission)


def notification_invitation(*, invitation: TeamInvitation) -> None:
    """Tell the invitee about a new team invitation (badge; e-mail if they opted in)."""
    invitee = invitation.invitee
    if not _record(user=invitee, kind=Notification.Kind.INVITATION, invitation=invitation):
        return
    if _wants_email(invitee):
        team = invitation.team
        url = settings.PODIUM_SITE_URL + reverse("competitions:account")
        _send_later(
            user=invitee,
            subject=f"[Podium] {invitation.invited_by} invites you to team {team.name}",
            body=(
                f"{invitation.invited_by} invites you to the team {team.name} in "
                f"{team.competition.title}. Accept or decline on your account page:\n\n"
                f"{url}\n\n{_FOOTER}"
            ),
        )


_FOOTER = "You get these e-mails because you turned them on; turn them off on your account page."


def notifications_mark_read(*, user: User) -> int:
    """Mark every notification of the user read; returns how many were unread."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
