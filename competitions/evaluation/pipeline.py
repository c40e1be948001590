"""Take a submission through the sandbox and the scorer, and record what happened."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db.models import Q
from django.utils import timezone

import sandbox
from competitions.evaluation import confidence, queue, retention, transitions
from competitions.evaluation.data import (
    CompetitionNotReady,
    competition_data_prepare,
    competition_debug_data_prepare,
    local_path,
    stored_solution_read,
)
from competitions.evaluation.lease import LeaseKeeper
from competitions.evaluation.metric import competition_additional_metrics, competition_metric
from competitions.models import Competition, CompetitionFile, Submission
from competitions.services.common import leaderboard_invalidate
from competitions.services.files import file_sha256
from competitions.services.notifications import notification_run_finished
from competitions.services.runtime_images import code_limits
from sandbox import runtime_images
from scoring.metrics import Metric, MetricError
from scoring.scorer import Scores, score_predictions
from scoring.validation import (
    InvalidPredictions,
    predictions_max_bytes,
    read_predictions,
    read_solution,
)

logger = logging.getLogger(__name__)

Kind = Submission.FailureKind


class PlatformFault(Exception):
    """Our fault, probably transient (engine unreachable, ...): retry, never count it."""


def instance_label() -> str:
    """The label value naming this platform instance's sandbox containers on an engine."""
    return _instance_label()


def _instance_label() -> str:
    """Names this platform (its home and database) on an engine that others may share."""
    database = settings.DATABASES["default"]
    key = f"{settings.PODIUM_HOME}|{database.get('HOST', '')}|{database['NAME']}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def limits_for(competition: Competition) -> sandbox.Limits:
    return sandbox.Limits(
        memory_bytes=competition.memory_limit_bytes,
        cpus=competition.cpu_limit,
        gpus=competition.gpu_limit,
        time_seconds=competition.time_limit_seconds,
        image_size_bytes=competition.image_size_limit_bytes,
        output_bytes=settings.PODIUM_SANDBOX_OUTPUT_BYTES,
        tmp_bytes=settings.PODIUM_SANDBOX_TMP_BYTES,
        gpu_ids=sandbox.parse_gpu_ids(settings.PODIUM_GPU_IDS),
        gpu_lock_dir=settings.PODIUM_GPU_LOCK_DIR,
        runtime=settings.PODIUM_SANDBOX_RUNTIME,
        predictions_max_bytes=settings.PODIUM_KEPT_PREDICTIONS_MAX_BYTES,
        log_tail_bytes=settings.PODIUM_LOG_TAIL_BYTES,
    )


# The lease owner of the run this thread works on: _scored and _fail record only under it.
_OWNER: contextvars.ContextVar[str] = contextvars.ContextVar("podium_lease_owner", default="")
# Whether this thread ran the run itself (its slot is what a held outcome keeps busy).
_RAN_HERE: contextvars.ContextVar[bool] = contextvars.ContextVar("podium_ran_here", default=False)


def _recorded(submission_id: int, done: bool, outcome: str) -> bool:
    if done:
        _leaderboard_changed(submission_id)
        _notify(submission_id)
        logger.info("submission %s recorded as %s", submission_id, outcome)
    return done


def _notify(submission_id: int) -> None:
    """Tell the submitter the run finished; a failure here never changes the run's result."""
    try:
        notification_run_finished(submission_id=submission_id)
    except Exception:
        logger.exception("could not notify about submission %s", submission_id)


def _held_until_release(submission_id: int) -> dict[str, Any]:
    """Wait, before recording a scored run's outcome, until the first multiple of
    PODIUM_RESULT_RELEASE_QUANTUM_SECONDS (seconds) after its start; return the fields
    that record its real end (``finished_at``) for organizers.

    The run's end is a channel a run controls (it can end at a moment made of a hidden
    value). Recording it only on the boundary, while this worker keeps the run's lease and
    its slot, times everything that follows the recording to the boundary too: the status,
    the leaderboard, the notification and its e-mail, the quota, what cancel and select
    answer, and the start of the next run on this worker (competitions.run_reports shows
    the boundary as the finish). Debug runs (public sample only) and a zero quantum are not
    held. Costs each scored run up to one quantum of its worker's time.

    Only where the run ran (submission_evaluate): a scoring worker recording a compute
    host's run (submission_record_computed) serves every host and is not held; remote
    compute relies on competitions.run_reports alone (see the README).
    """
    if not _RAN_HERE.get():
        return {}
    quantum = max(0, int(settings.PODIUM_RESULT_RELEASE_QUANTUM_SECONDS))
    end = timezone.now()
    row = Submission.objects.filter(pk=submission_id).values("started_at", "is_debug").first()
    if not quantum or row is None or row["is_debug"] or row["started_at"] is None:
        return {}
    elapsed = (end - row["started_at"]).total_seconds()
    release = row["started_at"] + dt.timedelta(
        seconds=max(1, math.ceil(elapsed / quantum)) * quantum
    )
    wait = (release - timezone.now()).total_seconds()
    if wait > 0:
        logger.info("submission %s: outcome held %.0f s, to its release", submission_id, wait)
        time.sleep(wait)
    return {"finished_at": end}


def _scored(submission_id: int, **fields: Any) -> bool:
    """Record a scored run unless it is no longer ours (cancelled, or lease lost)."""
    fields.update(_held_until_release(submission_id))
    done = transitions.score(submission_id=submission_id, owner=_OWNER.get(), **fields)
    return _recorded(submission_id, done, Submission.Status.SCORED)


def _leaderboard_changed(submission_id: int) -> None:
    row = (
        Submission.objects.filter(pk=submission_id)
        .values("competition_id", "is_debug", "is_late")
        .first()
    )
    if row and not row["is_debug"] and not row["is_late"]:
        leaderboard_invalidate(competition_id=row["competition_id"])


def _fail(submission_id: int, kind: str, message: str, **fields: Any) -> bool:
    """Record a failed run unless it is no longer ours (cancelled, or lease lost)."""
    if kind != Kind.PLATFORM_ERROR:  # ours, not a moment the run chose
        fields.update(_held_until_release(submission_id))
    done = transitions.fail(
        submission_id=submission_id, owner=_OWNER.get(), kind=kind, message=message, **fields
    )
    return _recorded(submission_id, done, Submission.Status.FAILED)


def submission_evaluate(*, submission_id: int) -> None:
    """Run a queued submission's image and score its predictions; safe to call twice.

    The run is claimed with a lease renewed while this process works on it. A platform
    fault (engine stopped, container gone, our bug) puts the run back in the queue with a
    backoff, or fails it as ``platform_error`` after PODIUM_PLATFORM_RETRIES retries, and
    raises :class:`PlatformFault`; neither counts against the team.
    """
    owner = transitions.worker_id()
    if not transitions.claim(
        submission_id=submission_id, owner=owner, lease_seconds=settings.PODIUM_LEASE_SECONDS
    ):
        logger.info("submission %s is not queued; nothing to do", submission_id)
        return
    submission = Submission.objects.select_related("competition", "runtime_image").get(
        pk=submission_id
    )
    logger.info(
        "submission %s claimed by %s (attempt %s)", submission_id, owner, submission.attempts
    )
    token = _OWNER.set(owner)
    ran_here = _RAN_HERE.set(True)
    keeper = LeaseKeeper(
        submission_id=submission_id,
        owner=owner,
        lease_seconds=settings.PODIUM_LEASE_SECONDS,
        renew_seconds=settings.PODIUM_LEASE_RENEW_SECONDS,
    )
    try:
        with keeper:
            _evaluate(submission, lease_lost=keeper.lost.is_set)
    except sandbox.EngineError as exc:
        _platform_fault(submission, owner, f"The Docker engine failed: {exc}")
        raise PlatformFault(f"The Docker engine failed: {exc}") from exc
    except CompetitionNotReady as exc:
        _fail(submission_id, Kind.PLATFORM_ERROR, str(exc))
    except Exception as exc:  # any other failure is the platform's: recorded, then retried
        logger.exception("evaluating submission %s failed", submission_id)
        _platform_fault(submission, owner, "Scoring failed on our side.")
        raise PlatformFault(f"Scoring failed on our side: {exc!r}") from exc
    finally:
        _RAN_HERE.reset(ran_here)
        _OWNER.reset(token)
    retention.image_archive_delete_if_done(submission_id=submission_id)


def _platform_fault(submission: Submission, owner: str, message: str) -> None:
    """Retry later (backoff), or give up as platform_error after the last retry."""
    if submission.attempts > settings.PODIUM_PLATFORM_RETRIES:
        if transitions.fail_platform(submission_id=submission.pk, message=message, owner=owner):
            _leaderboard_changed(submission.pk)
            _notify(submission.pk)
        return
    delay = queue.retry_delay_seconds(submission.attempts)
    if transitions.release(submission_id=submission.pk, owner=owner, delay_seconds=delay):
        queue.enqueue(submission.pk, delay_seconds=delay)


def submission_fail_platform(*, submission_id: int, message: str) -> None:
    """Give up: failed, marked as ours, not counted against the team."""
    transitions.fail_platform(submission_id=submission_id, message=message)


def submission_platform_fault(*, submission_id: int, owner: str, message: str) -> None:
    """A compute worker's platform fault on its run: retried later with a backoff, or
    failed as ``platform_error`` after the last retry, as for a local run. Nothing changes
    unless ``owner`` still holds the run's lease."""
    _platform_fault(Submission.objects.get(pk=submission_id), owner, message)


def submission_record_computed(
    *,
    submission_id: int,
    owner: str,
    usage: dict[str, Any],
    failure_kind: str = "",
    failure_message: str = "",
    predictions: Path | None = None,
) -> None:
    """Record a run that a compute worker ran elsewhere (competitions.evaluation.compute).

    With ``failure_kind`` the sandbox's verdict is recorded as the failure; otherwise the
    posted ``predictions`` file is validated and scored here, where the solution is. Records
    only while ``owner`` holds the lease. Raises :class:`PlatformFault` (the run is retried)
    when scoring fails on our side.
    """
    submission = Submission.objects.select_related("competition").get(pk=submission_id)
    token = _OWNER.set(owner)
    # The lease is kept while the outcome is scored and held to its release.
    keeper = LeaseKeeper(
        submission_id=submission_id,
        owner=owner,
        lease_seconds=settings.PODIUM_LEASE_SECONDS,
        renew_seconds=settings.PODIUM_LEASE_RENEW_SECONDS,
    )
    try:
        with keeper:
            if failure_kind:
                _fail(submission_id, failure_kind, failure_message, **usage)
            else:
                assert predictions is not None
                prepare = (
                    competition_debug_data_prepare
                    if submission.is_debug
                    else competition_data_prepare
                )
                data = prepare(competition=submission.competition)
                _score(submission, data.solution, predictions, usage)
    except CompetitionNotReady as exc:
        _fail(submission_id, Kind.PLATFORM_ERROR, str(exc))
    except Exception as exc:
        logger.exception("recording submission %s failed", submission_id)
        _platform_fault(submission, owner, "Scoring failed on our side.")
        raise PlatformFault(f"Scoring failed on our side: {exc!r}") from exc
    finally:
        _OWNER.reset(token)
    retention.image_archive_delete_if_done(submission_id=submission_id)


def _evaluate(submission: Submission, lease_lost: Callable[[], bool] = lambda: False) -> None:
    competition = submission.competition
    prepare = competition_debug_data_prepare if submission.is_debug else competition_data_prepare
    data = prepare(competition=competition)
    limits = limits_for(competition)
    client = sandbox.docker_client()
    # Every image this run loads is in the ledger until removed, even if we die meanwhile.
    images = sandbox.ImageTracker(Path(settings.PODIUM_WORK_DIR) / "images")
    if submission.kind == Submission.Kind.CODE:
        _evaluate_code(submission, client, data, limits, lease_lost)
        return
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(images.release, client)
        with local_path(submission.image, sha256=submission.image_sha256) as image_path:
            try:
                loaded = sandbox.load_image(
                    client,
                    image_path,
                    max_size_bytes=competition.image_size_limit_bytes,
                    before_load=images.add,
                )
            except sandbox.InvalidImage as exc:
                _fail(submission.pk, Kind.INVALID_IMAGE, exc.message)
                return
        _run_and_score(submission, client, loaded.image_id, data, limits, lease_lost)


def _evaluate_code(
    submission: Submission,
    client: Any,
    data: Any,
    limits: sandbox.Limits,
    lease_lost: Callable[[], bool],
) -> None:
    """Extract a code archive (checked again, bounded) and run it on its runtime image."""
    assert submission.runtime_image is not None  # a database constraint
    try:
        image_id = runtime_images.resolve(client, submission.runtime_image.name)
    except runtime_images.RuntimeImageMissing as exc:
        # Ours: the organizer allowed an image this worker does not have. Retried.
        raise sandbox.EngineError(exc.message) from exc
    code_dir = Path(settings.PODIUM_WORK_DIR) / "code" / str(submission.pk)
    shutil.rmtree(code_dir, ignore_errors=True)
    code_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        with local_path(submission.image, sha256=submission.image_sha256) as archive_path:
            try:
                checked = sandbox.extract_code(archive_path, code_dir, code_limits())
            except sandbox.InvalidCode as exc:
                _fail(submission.pk, Kind.INVALID_CODE, exc.message)
                return
        _run_and_score(
            submission,
            client,
            image_id,
            data,
            limits,
            lease_lost,
            code_dir=code_dir,
            entrypoint=checked.command,
        )
    finally:
        shutil.rmtree(code_dir, ignore_errors=True)


def _run_and_score(
    submission: Submission,
    client: Any,
    image_id: str,
    data: Any,
    limits: sandbox.Limits,
    lease_lost: Callable[[], bool],
    code_dir: Path | None = None,
    entrypoint: list[str] | None = None,
) -> None:
    competition = submission.competition

    # An earlier attempt's container that the engine kept (it restarted under the run).
    labels = {
        "podium.instance": _instance_label(),
        "podium.submission": str(submission.pk),
        "podium.competition": competition.slug,
    }
    sandbox.remove_containers(
        client, labels={k: labels[k] for k in ("podium.instance", "podium.submission")}
    )
    output_dir = Path(settings.PODIUM_WORK_DIR) / "runs" / str(submission.pk)
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True)
    try:
        result = sandbox.run(
            client,
            image_id=image_id,
            limits=limits,
            mounts=sandbox.RunMounts(
                train_dir=data.train_dir,
                test_dir=data.test_dir,
                sample_submission=data.sample_submission,
                code_dir=code_dir,
            ),
            entrypoint=entrypoint,
            output_dir=output_dir,
            labels=labels,
            # Asked about once a second while the container runs (in this thread): a
            # cancelled submission's container is stopped instead of running to its limit.
            # A lost lease (this process stalled and the run was given to another worker)
            # stops it too.
            should_stop=lambda: (
                lease_lost()
                or Submission.objects.filter(
                    pk=submission.pk, status=Submission.Status.CANCELLED
                ).exists()
            ),
        )
        if result.cancelled:
            logger.info("submission %s was cancelled; its run was stopped", submission.pk)
            return
        usage = {
            "exit_code": result.exit_code,
            "duration_seconds": result.duration_seconds,
            "cpu_seconds": result.cpu_seconds,
            "peak_memory_bytes": result.peak_memory_bytes,
            "log_tail": result.log_tail,
            "oom_killed": result.oom_killed,
        }
        if result.failure is not None:
            _fail(submission.pk, result.failure.kind, result.failure.message, **usage)
            return
        assert result.predictions_path is not None
        _score(submission, data.solution, result.predictions_path, usage)
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)


def _score(
    submission: Submission, solution_path: Path, predictions_path: Path, usage: dict[str, Any]
) -> None:
    competition = submission.competition
    metric = competition_metric(competition)
    additional = competition_additional_metrics(competition)
    solution = read_solution(
        solution_path,
        id_column=competition.id_column,
        target_columns=competition.target_columns,
        metric=metric,
    )
    oversized = _oversized(competition, solution, predictions_path, metric)
    if oversized is not None:
        # Larger than any valid file for these rows: never parsed, never kept (a rescore
        # could not find it valid either), so the worker's disk holds no 250 MB files.
        _fail(
            submission.pk,
            Kind.INVALID_PREDICTIONS,
            oversized.message,
            failure_safe_message=oversized.safe,
            **usage,
        )
        return
    # Keep the predictions, valid or not: a rescore after a solution fix never reruns a
    # container, and may find that "invalid" predictions were right all along.
    with predictions_path.open("rb") as fh:
        submission.predictions.save("predictions.csv", File(fh), save=False)
    usage = {**usage, "predictions": submission.predictions.name}
    if not submission.is_debug:
        # The prepared solution is a byte copy of the stored one: this is its checksum,
        # which tells the organizer's pages whether these scores are stale.
        with solution_path.open("rb") as fh:
            usage["scored_solution_sha256"] = file_sha256(fh)[0]
    if submission.is_debug:
        # A debug run is no oracle: its predictions are checked in full (their format,
        # ids and values), never scored against the hidden labels of its sample.
        outcome: Scores | Rejected | None = check_kept_predictions(
            competition=competition,
            solution=solution,
            predictions_path=predictions_path,
            metric=metric,
        )
    else:
        outcome = score_kept_predictions(
            competition=competition,
            solution=solution,
            predictions_path=predictions_path,
            metric=metric,
            additional=additional,
        )
        _log_additional_errors(submission.pk, outcome)
    if isinstance(outcome, Rejected):
        recorded = _fail(
            submission.pk,
            Kind.INVALID_PREDICTIONS,
            outcome.message,
            failure_safe_message=outcome.safe,
            **usage,
        )
    elif outcome is None:
        recorded = _scored(submission.pk, **usage)
    else:
        recorded = _scored(
            submission.pk,
            public_score=outcome.public,
            private_score=outcome.private,
            public_additional_scores=outcome.additional_public,
            private_additional_scores=outcome.additional_private,
            **usage,
        )
    if not recorded:
        submission.predictions.delete(save=False)
    elif not submission.is_debug:
        _intervals(submission.pk)


def _log_additional_errors(submission_id: int, outcome: Scores | Rejected) -> None:
    """Tell organizers (the worker's log) why an additional metric has no score; the team
    sees only that it has none (competitions.run_reports)."""
    if isinstance(outcome, Scores):
        for name, reason in outcome.additional_errors.items():
            logger.warning(
                "submission %s: additional metric %s not computable: %s",
                submission_id,
                name,
                reason,
            )


def _intervals(submission_id: int) -> None:
    """Store the run's intervals (competitions.evaluation.confidence); the run is recorded
    already, so a fault here is logged and never fails it."""
    try:
        confidence.submission_intervals_store(submission_id=submission_id)
    except Exception:
        logger.exception("no intervals for submission %s", submission_id)


@dataclass(frozen=True)
class Rejected:
    """Why a predictions file cannot be scored, twice: ``message`` quotes the file (for
    organizers and debug runs), ``safe`` names positions and rules only (for the team
    that made a scored run: see competitions.run_reports)."""

    message: str
    safe: str


def _oversized(
    competition: Competition, solution: Any, predictions_path: Path, metric: Metric
) -> Rejected | None:
    """Why a run's predictions file is too large to be valid (before it is kept), or None."""
    size = predictions_path.stat().st_size
    bound = predictions_max_bytes(
        solution=solution,
        id_column=competition.id_column,
        target_columns=competition.target_columns,
        metric=metric,
    )
    if size <= bound:
        return None
    # The validator's own refusal, so the messages are those of every other path.
    rejected = check_kept_predictions(
        competition=competition,
        solution=solution,
        predictions_path=predictions_path,
        metric=metric,
    )
    if rejected is None:
        raise AssertionError("read_predictions accepted a file over predictions_max_bytes")
    return rejected


def check_kept_predictions(
    *, competition: Competition, solution: Any, predictions_path: Path, metric: Metric | None = None
) -> Rejected | None:
    """Validate one predictions file without scoring it: None when it is valid."""
    try:
        read_predictions(
            predictions_path,
            solution=solution,
            id_column=competition.id_column,
            target_columns=competition.target_columns,
            metric=metric or competition_metric(competition),
        )
    except InvalidPredictions as exc:
        return Rejected(exc.message, exc.safe)
    return None


def score_kept_predictions(
    *,
    competition: Competition,
    solution: Any,
    predictions_path: Path,
    metric: Metric | None = None,
    additional: Sequence[Metric] = (),
) -> Scores | Rejected:
    """Validate and score one predictions file: the scores (with those of the
    ``additional`` metrics, see scoring.scorer.score_predictions), or why they are invalid.

    A metric error never tells which part of the test set it came from: the scorer
    checks the metric on every row at once before splitting (see
    scoring.scorer.score_predictions), and the team's message names neither parts nor
    their sizes.
    """
    metric = metric or competition_metric(competition)
    try:
        predictions = read_predictions(
            predictions_path,
            solution=solution,
            id_column=competition.id_column,
            target_columns=competition.target_columns,
            metric=metric,
        )
    except InvalidPredictions as exc:
        return Rejected(exc.message, exc.safe)
    try:
        return score_predictions(
            solution=solution,
            predictions=predictions,
            metric=metric,
            target_columns=competition.target_columns,
            additional=additional,
        )
    except MetricError as exc:
        # Values the metric cannot take (probabilities outside 0-1, ...) are the file's fault.
        return Rejected(
            str(exc),
            f"The metric {metric.name} cannot score these predictions: check that every "
            "value is one the metric accepts (its range, its classes). A debug run shows "
            "the full reason.",
        )


RESCORE_REPORT_CHANGES = 500


def competition_predictions_rescore(*, competition: Competition) -> dict[str, Any]:
    """Rescore every scored or invalid-prediction submission (debug runs aside) from its
    kept predictions against the competition's current solution; no container runs.

    Returns a report for the audit record: counts and each change (the first
    RESCORE_REPORT_CHANGES of them). Each update is guarded by the status it was read
    with, so a submission that changes meanwhile (cancelled, requeued) is left alone.
    """
    record = competition.files.filter(kind=CompetitionFile.Kind.SOLUTION).first()
    if record is None:
        raise CompetitionNotReady(f"The competition {competition.slug} has no solution.")
    metric = competition_metric(competition)
    additional = competition_additional_metrics(competition)
    solution = stored_solution_read(record, competition=competition, metric=metric)
    candidates = (
        Submission.objects.filter(competition=competition, is_debug=False)
        .filter(
            Q(status=Submission.Status.SCORED)
            | Q(status=Submission.Status.FAILED, failure_kind=Kind.INVALID_PREDICTIONS)
        )
        .exclude(predictions="")
        .order_by("pk")
    )
    report: dict[str, Any] = {
        "solution_sha256": record.sha256,
        "rescored": 0,
        "changed": 0,
        "now_scored": 0,
        "now_failed": 0,
        "missing_predictions": 0,
        "changes": [],
    }
    for submission in candidates.iterator(chunk_size=500):
        try:
            with local_path(submission.predictions) as predictions_path:
                outcome = score_kept_predictions(
                    competition=competition,
                    solution=solution,
                    predictions_path=predictions_path,
                    metric=metric,
                    additional=additional,
                )
        except FileNotFoundError:
            report["missing_predictions"] += 1
            continue
        before = (
            submission.status,
            submission.public_score,
            submission.private_score,
            submission.public_additional_scores,
            submission.private_additional_scores,
        )
        if isinstance(outcome, Rejected):
            status = Submission.Status.FAILED
            fields: dict[str, Any] = {
                "failure_kind": Kind.INVALID_PREDICTIONS,
                "failure_message": outcome.message,
                "failure_safe_message": outcome.safe,
                "public_score": None,
                "private_score": None,
                "public_additional_scores": {},
                "private_additional_scores": {},
                "is_selected": False,
            }
        else:
            status = Submission.Status.SCORED
            fields = {
                "failure_kind": Kind.NONE,
                "failure_message": "",
                "failure_safe_message": "",
                "public_score": outcome.public,
                "private_score": outcome.private,
                "public_additional_scores": outcome.additional_public,
                "private_additional_scores": outcome.additional_private,
            }
            _log_additional_errors(submission.pk, outcome)
        after = (
            status,
            fields["public_score"],
            fields["private_score"],
            fields["public_additional_scores"],
            fields["private_additional_scores"],
        )
        report["rescored"] += 1
        if after == before:
            transitions.rescore(
                submission_id=submission.pk,
                seen_status=submission.status,
                scored=None,
                scored_solution_sha256=record.sha256,
            )
            continue
        fields["scored_solution_sha256"] = record.sha256
        if not transitions.rescore(
            submission_id=submission.pk,
            seen_status=submission.status,
            scored=status == Submission.Status.SCORED,
            **fields,
        ):
            continue
        report["changed"] += 1
        if before[0] != after[0]:
            report["now_scored" if after[0] == Submission.Status.SCORED else "now_failed"] += 1
        if len(report["changes"]) < RESCORE_REPORT_CHANGES:
            report["changes"].append(
                {
                    "submission": submission.pk,
                    "team": submission.team_id,
                    "status": [before[0], after[0]],
                    "public_score": [before[1], after[1]],
                    "private_score": [before[2], after[2]],
                    **(
                        {}
                        if before[3:] == after[3:]
                        else {
                            "public_additional_scores": [before[3], after[3]],
                            "private_additional_scores": [before[4], after[4]],
                        }
                    ),
                }
            )
    return report
