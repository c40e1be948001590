"""Take a submission through the sandbox and the scorer, and record what happened."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db.models import F
from django.db.models.fields.files import FieldFile
from django.utils import timezone

import sandbox
from competitions.models import Competition, Submission
from scoring.data import CompetitionNotReady, competition_data_prepare
from scoring.metrics import MetricError, get_metric
from scoring.scorer import score_predictions
from scoring.validation import InvalidPredictions, read_predictions, read_solution

logger = logging.getLogger(__name__)

Kind = Submission.FailureKind


class PlatformFault(Exception):
    """Our fault, probably transient (engine unreachable, ...): retry, never count it."""


def limits_for(competition: Competition) -> sandbox.Limits:
    return sandbox.Limits(
        memory_bytes=competition.memory_limit_bytes,
        cpus=competition.cpu_limit,
        gpus=competition.gpu_limit,
        time_seconds=competition.time_limit_seconds,
        image_size_bytes=competition.image_size_limit_bytes,
    )


def _claim(submission_id: int) -> bool:
    """Move queued -> running in one conditional UPDATE: of two deliveries of the same
    task, exactly one wins, on SQLite and PostgreSQL alike."""
    return bool(
        Submission.objects.filter(pk=submission_id, status=Submission.Status.QUEUED).update(
            status=Submission.Status.RUNNING,
            started_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
    )


def _finish(submission_id: int, **fields: Any) -> bool:
    """Record the outcome unless the run was cancelled meanwhile."""
    return bool(
        Submission.objects.filter(pk=submission_id, status=Submission.Status.RUNNING).update(
            finished_at=timezone.now(), **fields
        )
    )


def _fail(submission_id: int, kind: str, message: str, **fields: Any) -> None:
    _finish(
        submission_id,
        status=Submission.Status.FAILED,
        failure_kind=kind,
        failure_message=message,
        **fields,
    )


@contextlib.contextmanager
def _local_path(field: FieldFile) -> Iterator[Path]:
    """A path on this machine for a stored file (a copy when storage is remote)."""
    try:
        yield Path(field.path)
        return
    except NotImplementedError:
        pass
    with tempfile.NamedTemporaryFile(suffix=Path(field.name).suffix) as tmp:
        with field.open("rb") as src:
            shutil.copyfileobj(src, tmp, 1024 * 1024)
        tmp.flush()
        yield Path(tmp.name)


def submission_evaluate(*, submission_id: int) -> None:
    """Run a queued submission's image and score its predictions; safe to call twice."""
    if not _claim(submission_id):
        logger.info("submission %s is not queued; nothing to do", submission_id)
        return
    submission = Submission.objects.select_related("competition").get(pk=submission_id)
    try:
        _evaluate(submission)
    except sandbox.EngineError as exc:
        submission_release(submission_id=submission_id)
        raise PlatformFault(f"The Docker engine failed: {exc}") from exc
    except CompetitionNotReady as exc:
        _fail(submission_id, Kind.PLATFORM_ERROR, str(exc))
    except Exception as exc:
        logger.exception("evaluating submission %s failed", submission_id)
        submission_release(submission_id=submission_id)
        raise PlatformFault(f"Scoring failed on our side: {exc!r}") from exc


def submission_release(*, submission_id: int) -> None:
    """Put a run that failed through our fault back in the queue for a retry."""
    Submission.objects.filter(pk=submission_id, status=Submission.Status.RUNNING).update(
        status=Submission.Status.QUEUED, started_at=None
    )


def submission_fail_platform(*, submission_id: int, message: str) -> None:
    """Give up after the last retry: failed, marked as ours, not counted against the team."""
    Submission.objects.filter(
        pk=submission_id, status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING]
    ).update(
        status=Submission.Status.FAILED,
        failure_kind=Kind.PLATFORM_ERROR,
        failure_message=(
            f"{message} This is the platform's fault, not yours; it does not count toward "
            "your limits. Submit again later or tell the organizers."
        ),
        finished_at=timezone.now(),
    )


def _evaluate(submission: Submission) -> None:
    competition = submission.competition
    data = competition_data_prepare(competition=competition)
    limits = limits_for(competition)
    client = sandbox.docker_client()
    with _local_path(submission.image) as image_path:
        try:
            loaded = sandbox.load_image(
                client, image_path, max_size_bytes=competition.image_size_limit_bytes
            )
        except sandbox.InvalidImage as exc:
            _fail(submission.pk, Kind.INVALID_IMAGE, exc.message)
            return

    output_dir = Path(settings.PODIUM_WORK_DIR) / "runs" / str(submission.pk)
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True)
    try:
        result = sandbox.run(
            client,
            image_id=loaded.image_id,
            limits=limits,
            mounts=sandbox.RunMounts(
                train_dir=data.train_dir,
                test_dir=data.test_dir,
                sample_submission=data.sample_submission,
            ),
            output_dir=output_dir,
            labels={
                "podium.submission": str(submission.pk),
                "podium.competition": competition.slug,
            },
        )
        usage = {
            "exit_code": result.exit_code,
            "duration_seconds": result.duration_seconds,
            "cpu_seconds": result.cpu_seconds,
            "peak_memory_bytes": result.peak_memory_bytes,
            "log_tail": result.log_tail,
        }
        if result.failure is not None:
            _fail(submission.pk, result.failure.kind, result.failure.message, **usage)
            return
        assert result.predictions_path is not None
        _score(submission, data.solution, result.predictions_path, usage)
    finally:
        sandbox.remove_image(client, loaded.image_id)
        shutil.rmtree(output_dir, ignore_errors=True)


def _score(
    submission: Submission, solution_path: Path, predictions_path: Path, usage: dict[str, Any]
) -> None:
    competition = submission.competition
    solution = read_solution(
        solution_path, id_column=competition.id_column, target_columns=competition.target_columns
    )
    try:
        predictions = read_predictions(
            predictions_path,
            solution=solution,
            id_column=competition.id_column,
            target_columns=competition.target_columns,
        )
    except InvalidPredictions as exc:
        _fail(submission.pk, Kind.INVALID_PREDICTIONS, exc.message, **usage)
        return
    # Keep the predictions: a rescore after a solution fix never reruns a container.
    with predictions_path.open("rb") as fh:
        submission.predictions.save("predictions.csv", File(fh), save=False)
    try:
        scores = score_predictions(
            solution=solution,
            predictions=predictions,
            metric=get_metric(competition.metric),
            target_columns=competition.target_columns,
        )
    except MetricError as exc:
        # Values the metric cannot take (probabilities outside 0-1, ...) are the file's fault.
        _fail(submission.pk, Kind.INVALID_PREDICTIONS, str(exc), **usage)
        submission.predictions.delete(save=False)
        return
    if not _finish(
        submission.pk,
        status=Submission.Status.SCORED,
        public_score=scores.public,
        private_score=scores.private,
        predictions=submission.predictions.name,
        **usage,
    ):
        submission.predictions.delete(save=False)
