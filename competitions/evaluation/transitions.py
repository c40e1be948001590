"""Every status change of a submission, each one guarded UPDATE (or, for a new row, one
INSERT): no other module writes ``Submission.status``.

A run's row is the source of truth; the broker only wakes workers. Each function is one
conditional UPDATE whose WHERE clause is its precondition, so two workers, a reaper and a
participant's cancel can race on a row and exactly one of them wins, on SQLite and
PostgreSQL alike. Each returns whether it changed the row (or the ids it changed).

A running submission holds a lease: ``lease_owner`` (the worker process, see
:func:`worker_id`), ``lease_heartbeat_at`` and ``lease_expires_at``. Only the lease holder
may renew, record or release the run; once the lease expired, the reaper may take it back.
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from competitions import standings
from competitions.models import Submission
from sandbox.owner import owner_alive, owner_token

Status = Submission.Status
Kind = Submission.FailureKind

PLATFORM_MESSAGE_SUFFIX = (
    " This is the platform's fault, not yours; it does not count toward your limits. "
    "Submit again later or tell the organizers."
)
_LEASE_CLEARED = {"lease_owner": "", "lease_expires_at": None, "lease_heartbeat_at": None}


def worker_id() -> str:
    """``host/pid-starttime`` of this process: unique, and checkable for liveness on its host."""
    return f"{socket.gethostname()}/{owner_token()}"[:255]


def _in(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


def create(submission: Submission) -> Submission:
    """new -> queued: insert an unsaved submission (its image already stored) as queued.

    Precondition: ``submission`` is not saved yet (``pk`` is None). Raises ValueError
    otherwise. Returns the saved submission.
    """
    if submission.pk is not None:
        raise ValueError(f"submission {submission.pk} exists already")
    submission.status = Status.QUEUED
    with transaction.atomic():
        submission.save()
        standings.changed(True, submission_ids=[submission.pk])
    return submission


def cancel(*, submission_id: int) -> bool:
    """queued or running -> cancelled (a participant's or organizer's cancel).

    Precondition: ``status`` is queued or running. A worker running the submission then
    records nothing: its own transitions require ``status = running``.
    """
    with transaction.atomic():
        done = Submission.objects.filter(
            pk=submission_id, status__in=[Status.QUEUED, Status.RUNNING]
        ).update(status=Status.CANCELLED, finished_at=timezone.now())
        return bool(standings.changed(done, submission_ids=[submission_id]))


def requeue_failed(*, submission_ids: list[int]) -> int:
    """failed -> queued, failure and run times cleared (an organizer's requeue).

    Precondition: ``status = failed``; other rows among ``submission_ids`` are left alone.
    Returns the number of rows changed.
    """
    with transaction.atomic():
        done = Submission.objects.filter(pk__in=submission_ids, status=Status.FAILED).update(
            status=Status.QUEUED,
            failure_kind="",
            failure_message="",
            started_at=None,
            finished_at=None,
            worker="",
        )
        return int(standings.changed(done, submission_ids=submission_ids))


def claim(*, submission_id: int, owner: str, lease_seconds: float) -> bool:
    """queued -> running with a lease held by ``owner``, one attempt more.

    Precondition: ``status = queued`` and no backoff pending (``not_before`` unset or past).
    Of two deliveries of the same run exactly one wins; a run whose lease is live is not
    queued, so no second worker can take it.
    """
    now = timezone.now()
    return bool(
        Submission.objects.filter(pk=submission_id, status=Status.QUEUED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now + dt.timedelta(seconds=2)))
        .update(
            status=Status.RUNNING,
            started_at=now,
            attempts=F("attempts") + 1,
            worker=owner.split("/", 1)[0][:255],
            lease_owner=owner,
            lease_heartbeat_at=now,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            not_before=None,
        )
    )


def heartbeat(*, submission_id: int, owner: str, lease_seconds: float) -> bool:
    """Renew the lease for ``lease_seconds`` more.

    Precondition: ``status = running`` and ``lease_owner = owner``. False means the run is
    no longer ours (cancelled, or reaped after the lease expired): stop it.
    """
    now = timezone.now()
    return bool(
        Submission.objects.filter(
            pk=submission_id, status=Status.RUNNING, lease_owner=owner
        ).update(lease_heartbeat_at=now, lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
    )


def finish(*, submission_id: int, owner: str, **fields: Any) -> bool:
    """running -> the outcome in ``fields`` (status scored or failed, scores, usage).

    Precondition: ``status = running`` and ``lease_owner = owner``: a worker that lost its
    lease (or whose run was cancelled) records nothing. ``finished_at`` defaults to now
    (the pipeline gives the real end of a run whose outcome it held to its release).
    """
    fields.setdefault("finished_at", timezone.now())
    with transaction.atomic():
        done = Submission.objects.filter(
            pk=submission_id, status=Status.RUNNING, lease_owner=owner
        ).update(**_LEASE_CLEARED, **fields)
        return bool(standings.changed(done, submission_ids=[submission_id]))


def score(*, submission_id: int, owner: str, **fields: Any) -> bool:
    """running -> scored with ``fields`` (scores, usage, kept predictions). Precondition as
    :func:`finish`."""
    return finish(submission_id=submission_id, owner=owner, status=Status.SCORED, **fields)


def fail(*, submission_id: int, owner: str, kind: str, message: str, **fields: Any) -> bool:
    """running -> failed with ``kind`` and ``message``. Precondition as :func:`finish`."""
    return finish(
        submission_id=submission_id,
        owner=owner,
        status=Status.FAILED,
        failure_kind=kind,
        failure_message=message,
        **fields,
    )


def hand_over(*, submission_id: int, owner: str, new_owner: str, lease_seconds: float) -> bool:
    """Pass a running run's lease from ``owner`` (a compute worker that posted its result)
    to ``new_owner`` (the scoring task that records it) for ``lease_seconds``; the status
    stays running.

    Precondition: ``status = running`` and ``lease_owner = owner``.
    """
    now = timezone.now()
    return bool(
        Submission.objects.filter(
            pk=submission_id, status=Status.RUNNING, lease_owner=owner
        ).update(
            lease_owner=new_owner,
            lease_heartbeat_at=now,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
        )
    )


def release(*, submission_id: int, owner: str, delay_seconds: float) -> bool:
    """running -> queued for a retry after ``delay_seconds`` (a platform fault; not counted).

    Precondition: ``status = running`` and ``lease_owner = owner``.
    """
    return bool(
        Submission.objects.filter(
            pk=submission_id, status=Status.RUNNING, lease_owner=owner
        ).update(
            status=Status.QUEUED, started_at=None, not_before=_in(delay_seconds), **_LEASE_CLEARED
        )
    )


def fail_platform(*, submission_id: int, message: str, owner: str | None = None) -> bool:
    """queued or running -> failed as ``platform_error`` (never counted against the team).

    Precondition: ``status`` is queued or running, and when ``owner`` is given the run is
    running under that owner's lease.
    """
    rows = Submission.objects.filter(pk=submission_id)
    if owner is None:
        rows = rows.filter(status__in=[Status.QUEUED, Status.RUNNING])
    else:
        rows = rows.filter(status=Status.RUNNING, lease_owner=owner)
    with transaction.atomic():
        done = rows.update(
            status=Status.FAILED,
            failure_kind=Kind.PLATFORM_ERROR,
            failure_message=message + PLATFORM_MESSAGE_SUFFIX,
            finished_at=timezone.now(),
            **_LEASE_CLEARED,
        )
        return bool(standings.changed(done, submission_ids=[submission_id]))


def rescore(*, submission_id: int, seen_status: str, scored: bool | None, **fields: Any) -> bool:
    """A rescore's verdict on kept predictions: -> scored (``scored=True``), -> failed as
    invalid predictions (``scored=False``), or the status kept (``scored=None``, only
    ``fields`` such as the scored solution's checksum written).

    Precondition: ``status = seen_status`` (scored, or failed as invalid predictions, as the
    rescore read it): a submission cancelled or requeued meanwhile is left alone.
    """
    if scored is not None:
        fields["status"] = Status.SCORED if scored else Status.FAILED
    with transaction.atomic():
        done = Submission.objects.filter(pk=submission_id, status=seen_status).update(**fields)
        return bool(standings.changed(done and scored is not None, submission_ids=[submission_id]))


def _lost_lease_q(now: dt.datetime, lease_seconds: float) -> Q:
    return Q(lease_expires_at__lt=now) | Q(
        # Rows claimed before leases existed: their start is the only clock they have.
        lease_expires_at__isnull=True,
        started_at__lt=now - dt.timedelta(seconds=lease_seconds),
    )


def lost_runs(*, lease_seconds: float, host: str | None = None) -> list[tuple[int, str, int]]:
    """(id, lease owner, attempts) of running submissions whose worker is gone.

    Gone means the lease expired, or (with ``host``) the lease holder was a process on this
    host that no longer exists: a restarted worker need not wait for the lease to expire.
    """
    now = timezone.now()
    running = Submission.objects.filter(status=Status.RUNNING)
    found = {
        pk: (pk, owner, attempts)
        for pk, owner, attempts in running.filter(_lost_lease_q(now, lease_seconds)).values_list(
            "pk", "lease_owner", "attempts"
        )
    }
    if host:
        local = running.filter(lease_owner__startswith=f"{host}/").values_list(
            "pk", "lease_owner", "attempts"
        )
        for pk, owner, attempts in local:
            if not owner_alive(owner.split("/", 1)[1]):
                found[pk] = (pk, owner, attempts)
    return sorted(found.values())


def reap(*, submission_id: int, owner: str, delay_seconds: float) -> bool:
    """running -> queued, the lease of a gone worker ``owner`` taken back.

    Precondition: ``status = running`` and ``lease_owner = owner`` (the lease seen as lost,
    unchanged since): a worker that renewed meanwhile, or a run that finished, is left alone.
    """
    return bool(
        Submission.objects.filter(
            pk=submission_id, status=Status.RUNNING, lease_owner=owner
        ).update(
            status=Status.QUEUED, started_at=None, not_before=_in(delay_seconds), **_LEASE_CLEARED
        )
    )


def overdue_deliveries(*, after_seconds: float) -> list[tuple[int, dt.datetime | None]]:
    """(id, enqueued_at) of queued submissions whose delivery is overdue by ``after_seconds``.

    Their message was probably lost (the filesystem transport deletes a message when a
    worker reads it; a worker killed then loses it).
    """
    cutoff = timezone.now() - dt.timedelta(seconds=after_seconds)
    return list(
        Submission.objects.filter(status=Status.QUEUED)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=cutoff))
        .filter(Q(not_before__isnull=True) | Q(not_before__lt=cutoff))
        .order_by("created_at", "pk")
        .values_list("pk", "enqueued_at")
    )


def mark_redelivered(*, submission_id: int, seen: dt.datetime | None) -> bool:
    """Take the right to enqueue a queued run again. Precondition: ``status = queued`` and
    ``enqueued_at`` as seen by the caller (of two reapers, one enqueues)."""
    return bool(
        Submission.objects.filter(pk=submission_id, status=Status.QUEUED, enqueued_at=seen).update(
            enqueued_at=timezone.now()
        )
    )
