"""The platform's side of remote compute: what a compute worker may fetch and post.

A compute worker (``podium_compute``) holds no database credentials, no secret key and
never the solution. For each run it gets a dispatch token in the broker message, claims
the run here (a lease, as a local worker takes), fetches the run's inputs (image archive,
training data, test inputs, sample submission) and posts the predictions, usage figures
and log tail back. The post hands the lease to a scoring task (``scoring.record_computed``),
which validates and scores where the solution is. Every endpoint after the claim is
refused once the attempt's lease is gone (recorded, cancelled, or reaped because the
worker stopped renewing it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from celery import current_app
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from competitions.evaluation import credentials, pipeline, queue, transitions, workers
from competitions.evaluation.data import (
    CompetitionData,
    CompetitionNotReady,
    competition_data_prepare,
    competition_debug_data_prepare,
)
from competitions.models import Competition, ComputeQueue, Submission, WorkerHeartbeat
from competitions.services.compute_queues import secret_hash


class Readable(Protocol):
    """What the predictions are read from: the request itself (HttpRequest.read)."""

    def read(self, size: int = -1, /) -> bytes: ...


logger = logging.getLogger(__name__)

RECORD_TASK = "scoring.record_computed"
Kind = Submission.FailureKind
# The verdicts a sandbox reaches on its own; validation and platform errors are ours to say.
RUN_FAILURE_KINDS = frozenset(
    {
        Kind.INVALID_IMAGE,
        Kind.TIME_LIMIT,
        Kind.MEMORY_LIMIT,
        Kind.DISK_LIMIT,
        Kind.RUNTIME_ERROR,
        Kind.NO_PREDICTIONS,
    }
)
_WORKER = re.compile(r"^[A-Za-z0-9._-]{1,200}/\d+-\d+$")
_MANIFEST = ".compute-manifest.json"


class ComputeRefused(Exception):
    """A compute request refused: ``status`` is the HTTP status, ``message`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Lease:
    """A compute worker's hold on one attempt of one run (checked against the database)."""

    submission: Submission
    owner: str


@dataclass(frozen=True)
class Host:
    """Who a compute request comes from: ``queue`` an organizer's queue (its secret was
    presented), else the platform's shared hosts; ``label`` is bound into lease tokens."""

    queue: ComputeQueue | None
    label: str


def host_identify(*, token: str) -> Host:
    """The compute host behind host credential ``token`` ("" when none was sent).

    PODIUM_COMPUTE_HOST_TOKEN (the platform-wide token) is a shared host; a live organizer
    secret is that organizer's queue. Raises :class:`ComputeRefused` (403) for any other
    token, a revoked secret included."""
    if not token:
        return Host(queue=None, label="")
    expected = settings.PODIUM_COMPUTE_HOST_TOKEN
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return Host(queue=None, label="platform")
    queue = ComputeQueue.objects.filter(
        token_hash=secret_hash(token), revoked_at__isnull=True
    ).first()
    if queue is None:
        raise ComputeRefused(403, "unknown or revoked compute host token")
    return Host(queue=queue, label=f"q{queue.pk}")


def host_may_serve(host: Host, competition: Competition) -> bool:
    """Whether ``host`` may run ``competition``'s runs: an organizer queue's competitions
    only by that queue's hosts; the others only by shared hosts, which must present the
    platform-wide token once PODIUM_COMPUTE_HOST_TOKEN is set."""
    if competition.compute_queue_id is not None:
        return host.queue is not None and host.queue.pk == competition.compute_queue_id
    if host.queue is not None:
        return False
    return host.label == "platform" or not settings.PODIUM_COMPUTE_HOST_TOKEN


def _refuse_foreign(host: Host, competition: Competition) -> None:
    if not host_may_serve(host, competition):
        raise ComputeRefused(
            403,
            "this compute host's token does not serve this run's competition "
            "(an organizer's queue serves only its own competitions; shared hosts send "
            "the platform's host token)",
        )


def _seen(host: Host) -> None:
    if host.queue is not None:
        ComputeQueue.objects.filter(pk=host.queue.pk).update(last_seen_at=timezone.now())


def _scoring_owner(submission_id: int, attempts: int) -> str:
    return f"scoring:{submission_id}:{attempts}"


def run_claim(
    *, submission_id: int, token: str, worker: str, host: Host | None = None
) -> dict[str, Any]:
    """Claim a queued run for compute worker ``worker`` (``host/pid-start``) on ``host``
    (default: a shared host that sent no host token).

    Returns the run's spec: ``lease_token``, ``lease_seconds`` and ``renew_seconds``
    (seconds), the competition's ``limits`` (bytes, CPUs, GPUs, seconds) and the image
    archive's ``image_sha256``/``image_size`` (bytes). Raises :class:`ComputeRefused`: 403
    for a bad dispatch token or worker name, or a host that may not serve the run's
    competition (see :func:`host_may_serve`); 409 when the run is not queued (taken, done,
    cancelled, or waiting for a retry's backoff).
    """
    host = host or Host(queue=None, label="")
    try:
        credentials.dispatch_check(token=token, submission_id=submission_id)
    except credentials.CredentialRefused as exc:
        raise ComputeRefused(403, str(exc)) from None
    if not _WORKER.match(worker):
        raise ComputeRefused(403, "worker must be host/pid-start")
    target = Competition.objects.filter(submissions__pk=submission_id).first()
    if target is None:
        raise ComputeRefused(409, "the run is not queued (taken, finished, or cancelled)")
    _refuse_foreign(host, target)
    _seen(host)
    if not transitions.claim(
        submission_id=submission_id, owner=worker, lease_seconds=settings.PODIUM_LEASE_SECONDS
    ):
        raise ComputeRefused(409, "the run is not queued (taken, finished, or cancelled)")
    submission = Submission.objects.select_related("competition").get(pk=submission_id)
    competition = submission.competition
    logger.info(
        "submission %s claimed by compute worker %s (attempt %s)",
        submission_id,
        worker,
        submission.attempts,
    )
    valid = competition.time_limit_seconds + settings.PODIUM_COMPUTE_LEASE_GRACE_SECONDS
    limits = pipeline.limits_for(competition)
    return {
        "submission": submission_id,
        "lease_token": credentials.lease_token(
            submission_id=submission_id,
            owner=worker,
            attempts=submission.attempts,
            valid_seconds=valid,
            host=host.label,
        ),
        "lease_seconds": settings.PODIUM_LEASE_SECONDS,
        "renew_seconds": settings.PODIUM_LEASE_RENEW_SECONDS,
        "image_sha256": submission.image_sha256,
        "image_size": submission.image_size,
        "limits": {
            "memory_bytes": limits.memory_bytes,
            "cpus": limits.cpus,
            "gpus": limits.gpus,
            "time_seconds": limits.time_seconds,
            "image_size_bytes": limits.image_size_bytes,
            "output_bytes": limits.output_bytes,
            "tmp_bytes": limits.tmp_bytes,
            "predictions_max_bytes": limits.predictions_max_bytes,
            "log_tail_bytes": limits.log_tail_bytes,
        },
    }


def lease_check(*, submission_id: int, token: str, host: Host | None = None) -> Lease:
    """The live lease a lease token stands for, presented by ``host`` (default: a shared
    host that sent no host token). Raises :class:`ComputeRefused`: 403 for a forged,
    expired or foreign token, or a host other than the one that claimed the run or one
    that may not serve its competition (an organizer's secret revoked mid-run included);
    410 once the attempt's lease is gone."""
    host = host or Host(queue=None, label="")
    try:
        claim = credentials.lease_read(token=token, submission_id=submission_id)
    except credentials.CredentialRefused as exc:
        raise ComputeRefused(403, str(exc)) from None
    if not hmac.compare_digest(claim.host.encode(), host.label.encode()):
        raise ComputeRefused(403, "the run was claimed with another compute host token")
    submission = (
        Submission.objects.select_related("competition")
        .filter(
            pk=submission_id,
            status=Submission.Status.RUNNING,
            lease_owner=claim.owner,
            attempts=claim.attempts,
        )
        .first()
    )
    if submission is None:
        raise ComputeRefused(410, "the run's lease is gone (recorded, cancelled or taken back)")
    _refuse_foreign(host, submission.competition)
    return Lease(submission=submission, owner=claim.owner)


def run_heartbeat(*, lease: Lease) -> None:
    """Renew the lease for PODIUM_LEASE_SECONDS more; 410 when it was lost meanwhile."""
    if not transitions.heartbeat(
        submission_id=lease.submission.pk,
        owner=lease.owner,
        lease_seconds=settings.PODIUM_LEASE_SECONDS,
    ):
        raise ComputeRefused(410, "the run's lease is gone (recorded, cancelled or taken back)")


def _prepared(lease: Lease) -> CompetitionData:
    submission = lease.submission
    prepare = competition_debug_data_prepare if submission.is_debug else competition_data_prepare
    try:
        return prepare(competition=submission.competition)
    except CompetitionNotReady as exc:
        transitions.fail(
            submission_id=submission.pk,
            owner=lease.owner,
            kind=Kind.PLATFORM_ERROR,
            message=str(exc),
        )
        raise ComputeRefused(410, "the competition's data is not ready") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _inputs(data: CompetitionData) -> Iterator[tuple[str, Path]]:
    """(name in the run, path here) of every input file; never the solution."""
    for top, folder in (("train", data.train_dir), ("test", data.test_dir)):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            yield f"{top}/{path.relative_to(folder).as_posix()}", path
    yield "sample_submission.csv", data.sample_submission


def run_manifest(*, lease: Lease) -> dict[str, Any]:
    """The run's input files: ``{"version": str, "files": [{"name", "sha256", "size"}]}``
    (``size`` in bytes). Computed once per prepared data version, then read from a file."""
    data = _prepared(lease)
    cached = data.test_dir.parent / _MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(cached.read_text())
        if manifest.get("train") == str(data.train_dir):
            return manifest["public"]
    except (OSError, ValueError, KeyError):
        pass
    files = [
        {"name": name, "sha256": _sha256(path), "size": path.stat().st_size}
        for name, path in _inputs(data)
    ]
    version = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    public = {"version": version, "files": files}
    partial = cached.with_name(f"{_MANIFEST}.{uuid.uuid4().hex}")
    partial.write_text(json.dumps({"train": str(data.train_dir), "public": public}))
    os.replace(partial, cached)
    return public


def run_input_path(*, lease: Lease, name: str) -> Path:
    """The file behind input ``name`` of the manifest; 404 for anything else."""
    for known, path in _inputs(_prepared(lease)):
        if known == name:
            return path
    raise ComputeRefused(404, f"no input named {name!r}")


def _staged_name(lease: Lease) -> str:
    return f"compute/{lease.submission.pk}/{lease.submission.attempts}-predictions.csv"


def run_predictions_store(*, lease: Lease, body: Readable) -> int:
    """Keep the posted predictions (read from ``body``) until the scoring task reads them;
    return their size in bytes. 413 when over PODIUM_KEPT_PREDICTIONS_MAX_BYTES."""
    limit = settings.PODIUM_KEPT_PREDICTIONS_MAX_BYTES
    size = 0
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            size += len(chunk)
            if size > limit:
                raise ComputeRefused(413, f"predictions over {limit} bytes")
            tmp.write(chunk)
        tmp.seek(0)
        name = _staged_name(lease)
        default_storage.delete(name)
        default_storage.save(name, File(tmp))
    return size


def _usage(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ComputeRefused(400, "usage must be an object")

    def number(key: str, kind: type) -> Any:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ComputeRefused(400, f"usage.{key} must be a non-negative number")
        return kind(value)

    exit_code = raw.get("exit_code")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise ComputeRefused(400, "usage.exit_code must be an integer")
    log_tail = raw.get("log_tail", "")
    if not isinstance(log_tail, str):
        raise ComputeRefused(400, "usage.log_tail must be text")
    return {
        "exit_code": exit_code,
        "duration_seconds": number("duration_seconds", float),
        "cpu_seconds": number("cpu_seconds", float),
        "peak_memory_bytes": number("peak_memory_bytes", int),
        "log_tail": log_tail[-settings.PODIUM_LOG_TAIL_BYTES :],
        "oom_killed": bool(raw.get("oom_killed", False)),
    }


def run_result(*, lease: Lease, payload: Any) -> None:
    """Take a run's outcome and hand it to the scoring task.

    ``payload``: ``{"usage": {exit_code, duration_seconds, cpu_seconds, peak_memory_bytes,
    log_tail, oom_killed}, "failure": null | {"kind", "message"}}``; without a failure the
    predictions must have been posted first. Raises :class:`ComputeRefused` (400) for a
    malformed payload, an unknown failure kind, or missing predictions.
    """
    if not isinstance(payload, dict):
        raise ComputeRefused(400, "the result must be a JSON object")
    usage = _usage(payload.get("usage"))
    failure = payload.get("failure")
    kind, message, staged = "", "", ""
    if failure is not None:
        if not isinstance(failure, dict) or failure.get("kind") not in RUN_FAILURE_KINDS:
            raise ComputeRefused(
                400, f"failure.kind must be one of {', '.join(sorted(RUN_FAILURE_KINDS))}"
            )
        kind = str(failure["kind"])
        message = str(failure.get("message", ""))[:2000]
    else:
        staged = _staged_name(lease)
        if not default_storage.exists(staged):
            raise ComputeRefused(400, "post the predictions before the result")
    submission = lease.submission
    new_owner = _scoring_owner(submission.pk, submission.attempts)
    if not transitions.hand_over(
        submission_id=submission.pk,
        owner=lease.owner,
        new_owner=new_owner,
        lease_seconds=settings.PODIUM_SCORING_LEASE_SECONDS,
    ):
        raise ComputeRefused(410, "the run's lease is gone (recorded, cancelled or taken back)")
    current_app.send_task(
        RECORD_TASK,
        args=[submission.pk, new_owner, usage, kind, message, staged],
        queue=queue.SCORING_QUEUE,
    )


def run_fault(*, lease: Lease, payload: Any) -> None:
    """A platform fault on the compute side (engine down, input lost): retry the run."""
    detail = str(payload.get("message", "")) if isinstance(payload, dict) else ""
    logger.warning("submission %s: compute worker fault: %s", lease.submission.pk, detail[:500])
    pipeline.submission_platform_fault(
        submission_id=lease.submission.pk,
        owner=lease.owner,
        message="The compute worker running your submission failed.",
    )


def run_record(
    *,
    submission_id: int,
    owner: str,
    usage: dict[str, Any],
    failure_kind: str,
    failure_message: str,
    staged: str,
) -> None:
    """The scoring task's service: record a posted outcome (see run_result); the staged
    predictions are deleted afterwards. Raises pipeline.PlatformFault (the run is retried)."""
    if not staged:
        pipeline.submission_record_computed(
            submission_id=submission_id,
            owner=owner,
            usage=usage,
            failure_kind=failure_kind,
            failure_message=failure_message,
        )
        return
    try:
        with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as folder:
            path = Path(folder) / "predictions.csv"
            with default_storage.open(staged, "rb") as src, path.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
            pipeline.submission_record_computed(
                submission_id=submission_id, owner=owner, usage=usage, predictions=path
            )
    finally:
        default_storage.delete(staged)


def host_beat(*, token: str, payload: Any) -> None:
    """A compute worker's heartbeat: ``{"name", "queues": [...], "capacity": {"cpus",
    "memory_bytes", "gpus": [...], "gpu_note", "running": [ids]}}``, authenticated by
    PODIUM_COMPUTE_HOST_TOKEN or a live organizer queue's secret (403 when none, unset, or
    another). Shown on the queue page, under the organizer's queue for the latter."""
    if not token:
        raise ComputeRefused(403, "unknown compute host token")
    host = host_identify(token=token)
    if not isinstance(payload, dict):
        raise ComputeRefused(400, "the heartbeat must be a JSON object")
    name, queues, capacity = payload.get("name"), payload.get("queues"), payload.get("capacity")
    if not isinstance(name, str) or not _WORKER.match(name):
        raise ComputeRefused(400, "name must be host/pid-start")
    if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
        raise ComputeRefused(400, "queues must be a list of names")
    if not isinstance(capacity, dict):
        raise ComputeRefused(400, "capacity must be an object")
    # A host says only the queues its credential may take runs from: a heartbeat naming the
    # scoring queue or another organizer's would hide a missing worker on the queue page.
    allowed = {host.queue.broker_queue} if host.queue is not None else queue.shared_compute_queues()
    refused = [q for q in queues if q not in allowed]
    if refused:
        raise ComputeRefused(
            403,
            f"this host token serves only {', '.join(sorted(allowed))}; not "
            f"{', '.join(refused[:5])}",
        )
    row = f"compute:{name}"[:255]
    owner = WorkerHeartbeat.objects.filter(name=row).values_list("compute_queue_id").first()
    if owner is not None and owner[0] != (host.queue.pk if host.queue else None):
        raise ComputeRefused(403, "another compute host token beats under this name")
    running = capacity.get("running") or []
    gpus = capacity.get("gpus") or []
    try:
        clean = {
            "cpus": float(capacity.get("cpus") or 0),
            "memory_bytes": int(capacity.get("memory_bytes") or 0),
            "gpus": [str(g)[:64] for g in gpus][:64],
            "gpu_note": str(capacity.get("gpu_note") or "")[:300],
            "running": [int(pk) for pk in running][:256],
        }
    except (TypeError, ValueError):
        raise ComputeRefused(400, "capacity holds a value of the wrong type") from None
    _seen(host)
    workers.worker_beat(
        name=row,
        queues=queues[:32],
        capacity=clean,
        compute_queue=host.queue,
    )
