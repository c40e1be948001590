"""Per-run credentials of compute workers: signed, scoped to one run, expiring.

A compute worker holds no secret of the platform. What lets it act on a run is two signed
tokens (Django's signing with the platform's SECRET_KEY, which never leaves the platform):

- the *dispatch* token travels in the broker message and lets a worker **claim** that one
  run while it is queued (valid PODIUM_COMPUTE_DISPATCH_SECONDS);
- the *lease* token is handed out by the claim and names the run, the lease owner and the
  attempt: it opens that run's inputs and result endpoints for as long as the attempt's
  lease is held (and at most the run's time limit plus PODIUM_COMPUTE_LEASE_GRACE_SECONDS).
  A reaped, cancelled or recorded run refuses it at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

_DISPATCH_SALT = "podium.compute.dispatch"
_LEASE_SALT = "podium.compute.lease"


class CredentialRefused(Exception):
    """A token that is forged, expired, or for another run."""


@dataclass(frozen=True)
class LeaseClaim:
    """What a lease token says: run ``submission_id``, attempt ``attempts``, held by ``owner``."""

    submission_id: int
    owner: str
    attempts: int
    host: str = ""


def dispatch_token(*, submission_id: int) -> str:
    return signing.dumps({"s": submission_id}, salt=_DISPATCH_SALT, compress=True)


def dispatch_check(*, token: str, submission_id: int) -> None:
    """Raise :class:`CredentialRefused` unless ``token`` is a live dispatch token of the run."""
    try:
        payload = signing.loads(
            token, salt=_DISPATCH_SALT, max_age=settings.PODIUM_COMPUTE_DISPATCH_SECONDS
        )
    except signing.BadSignature as exc:  # SignatureExpired is one
        raise CredentialRefused(f"dispatch token refused: {exc}") from None
    if payload.get("s") != submission_id:
        raise CredentialRefused("dispatch token of another run")


def lease_token(
    *, submission_id: int, owner: str, attempts: int, valid_seconds: float, host: str = ""
) -> str:
    """A lease token of one attempt, bound to the compute host credential ``host`` (a
    label: "" none, "platform", "q<pk>" an organizer queue) that claimed it."""
    payload = {
        "s": submission_id,
        "o": owner,
        "a": attempts,
        "h": host,
        "e": int(time.time() + valid_seconds),
    }
    return signing.dumps(payload, salt=_LEASE_SALT, compress=True)


def lease_read(*, token: str, submission_id: int) -> LeaseClaim:
    """The claim of a lease token for run ``submission_id``; raise :class:`CredentialRefused`
    when it is forged, expired or for another run. Whether the lease is still held is the
    caller's question (the database's)."""
    try:
        payload = signing.loads(token, salt=_LEASE_SALT)
    except signing.BadSignature:
        raise CredentialRefused("lease token refused: bad signature") from None
    if payload.get("s") != submission_id:
        raise CredentialRefused("lease token of another run")
    if int(payload.get("e", 0)) < time.time():
        raise CredentialRefused("lease token expired")
    return LeaseClaim(
        submission_id=submission_id,
        owner=str(payload["o"]),
        attempts=payload["a"],
        host=str(payload.get("h", "")),
    )
