"""Organizer compute queues (as Codabench's organizer-owned queues): create one, assign
the competitions it serves, issue or revoke its host secret.

A secret is ``pcq_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is kept
(a fast hash suffices for a random secret of that length), and it is returned once, to be
shown once. Compute hosts present it as ``X-Podium-Host-Token`` (run endpoints) and
``Authorization: Host SECRET`` (heartbeat); see competitions.evaluation.compute.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from django.contrib.auth.models import User as AuthUser
from django.db import transaction
from django.utils import timezone

from competitions.models import Competition, ComputeQueue
from competitions.selectors import competitions_organized_by
from podium.errors import ApplicationError

SECRET_PREFIX = "pcq_"  # noqa: S105 - a marker, not a secret


def secret_hash(secret: str) -> str:
    """The stored form of a host secret: its SHA-256, hex (64 characters)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str, str]:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, secret_hash(secret), secret[: len(SECRET_PREFIX) + 6]


@transaction.atomic
def compute_queue_create(
    *, owner: AuthUser, name: str, competitions: Iterable[Competition] = ()
) -> tuple[ComputeQueue, str]:
    """Create ``owner``'s queue ``org-<name>`` serving ``competitions``; return it and its
    secret (shown once, never stored). Raises ApplicationError when the name is taken or a
    competition is not ``owner``'s or is served by another queue."""
    if ComputeQueue.objects.filter(name=name).exists():
        raise ApplicationError(f"A compute queue named {name!r} exists: choose another name.")
    secret, digest, prefix = _new_secret()
    queue = ComputeQueue.objects.create(
        name=name, owner=owner, token_hash=digest, token_prefix=prefix
    )
    compute_queue_assign(queue=queue, actor=owner, competitions=competitions)
    return queue, secret


def compute_queue_assign(
    *, queue: ComputeQueue, actor: AuthUser, competitions: Iterable[Competition]
) -> None:
    """Make ``queue`` serve exactly ``competitions`` (runs queued from now on go there; a
    competition taken off goes back to the shared hosts). Raises ApplicationError, changing
    nothing, when ``actor`` does not organize one of them or another queue serves it."""
    chosen = list(competitions)
    allowed = set(competitions_organized_by(user=actor).values_list("pk", flat=True))
    with transaction.atomic():
        for competition in chosen:
            if competition.pk not in allowed:
                raise ApplicationError(
                    f"You do not organize {competition}: a compute queue may serve only "
                    "competitions its owner organizes."
                )
            current = (
                Competition.objects.select_for_update()
                .filter(pk=competition.pk)
                .values_list("compute_queue_id", flat=True)
                .first()
            )
            if current not in (None, queue.pk):
                raise ApplicationError(
                    f"{competition} is served by another compute queue: take it off that "
                    "queue first."
                )
        Competition.objects.filter(compute_queue=queue).exclude(
            pk__in=[c.pk for c in chosen]
        ).update(compute_queue=None)
        Competition.objects.filter(pk__in=[c.pk for c in chosen]).update(compute_queue=queue)


@transaction.atomic
def compute_queue_issue_secret(*, queue: ComputeQueue) -> str:
    """Replace the queue's secret (the old one is refused from now on) and lift a
    revocation; return the new secret, to be shown once."""
    secret, digest, prefix = _new_secret()
    ComputeQueue.objects.filter(pk=queue.pk).update(
        token_hash=digest, token_prefix=prefix, revoked_at=None
    )
    queue.refresh_from_db()
    return secret


def compute_queue_revoke(*, queue: ComputeQueue) -> None:
    """Refuse the queue's hosts from now on: claims, inputs, results and heartbeats answer
    403. The competitions stay assigned, so their runs wait for a new secret (or for the
    organizer to take them off the queue)."""
    ComputeQueue.objects.filter(pk=queue.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    queue.refresh_from_db()
