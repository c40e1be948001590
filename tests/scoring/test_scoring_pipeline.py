"""A submission through the real sandbox and scorer: real images, real containers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from artifacts import image_tar
from django.contrib.auth.models import User

from competitions.evaluation.pipeline import PlatformFault, submission_evaluate
from competitions.models import Competition, Submission
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def _submit(competition: Competition, archive: Path, username: str = "alice") -> Submission:
    user = User.objects.create_user(username=username)
    competition_join(user=user, competition=competition)
    with archive.open("rb") as fh:
        return submission_create(user=user, competition=competition, image=fh)


def _evaluate(submission: Submission) -> Submission:
    submission_evaluate(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission


def expected_accuracy(competition: Competition, predictions: Path) -> dict[str, float]:
    """Accuracy per part, computed here from the stored solution and the kept predictions."""
    solution = pd.read_csv(competition.files.get(kind="solution").file.path)
    merged = solution.merge(pd.read_csv(predictions), on="id", suffixes=("", "_pred"))
    assert len(merged) == len(solution)
    correct = merged["label"] == merged["label_pred"]
    return {
        usage: float(correct[merged["Usage"] == usage].mean()) for usage in ("Public", "Private")
    }


def test_baseline_is_scored_on_both_parts(digits: Competition, baseline_archive: Path) -> None:
    submission = _evaluate(_submit(digits, baseline_archive))

    assert submission.status == Submission.Status.SCORED, submission.failure_message
    expected = expected_accuracy(digits, Path(submission.predictions.path))
    assert submission.public_score == pytest.approx(expected["Public"], abs=1e-12)
    assert submission.private_score == pytest.approx(expected["Private"], abs=1e-12)
    assert submission.public_score > 0.9
    assert submission.exit_code == 0
    assert submission.duration_seconds > 0
    assert "wrote 540 predictions" in submission.log_tail
    # The worker stored each part's interval with the score (never computed in a request).
    intervals = {i.part: i for i in submission.intervals.all()}
    assert set(intervals) == {"public", "private"}
    for part, score in (("public", submission.public_score), ("private", submission.private_score)):
        assert intervals[part].method == "wilson"
        assert intervals[part].low <= score <= intervals[part].high


def test_second_delivery_of_the_same_task_does_nothing(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    archive = script_archive(
        "counter",
        """
        import pandas as pd
        test = pd.read_csv("/data/test/test.csv")
        pd.DataFrame({"id": test["id"], "label": 1}).to_csv("/output/predictions.csv", index=False)
        """,
    )
    submission = _evaluate(_submit(digits, archive))
    first = (submission.status, submission.public_score, submission.finished_at)

    again = _evaluate(submission)

    assert first[0] == Submission.Status.SCORED
    assert (again.status, again.public_score, again.finished_at) == first
    assert again.attempts == 1


def test_over_memory_limit_fails_with_memory_limit(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    Competition.objects.filter(pk=digits.pk).update(memory_limit_bytes=256 * 2**20)
    archive = script_archive(
        "memory-hog",
        """
        chunks = []
        while True:
            chunks.append(bytearray(32 * 2**20))
        """,
    )
    submission = _evaluate(_submit(digits, archive))

    assert submission.status == Submission.Status.FAILED
    assert submission.failure_kind == Submission.FailureKind.MEMORY_LIMIT
    assert "256 MB" in submission.failure_message
    assert submission.public_score is None


def test_over_time_limit_fails_with_time_limit(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    Competition.objects.filter(pk=digits.pk).update(time_limit_seconds=3)
    archive = script_archive("sleeper", "import time\ntime.sleep(3600)\n")

    submission = _evaluate(_submit(digits, archive))

    assert submission.status == Submission.Status.FAILED
    assert submission.failure_kind == Submission.FailureKind.TIME_LIMIT
    assert "3 s" in submission.failure_message


def test_broken_predictions_fail_with_the_reason(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    archive = script_archive(
        "half-predictions",
        """
        import pandas as pd
        test = pd.read_csv("/data/test/test.csv").head(100)
        pd.DataFrame({"id": test["id"], "label": 3}).to_csv("/output/predictions.csv", index=False)
        """,
    )
    submission = _evaluate(_submit(digits, archive))

    assert submission.status == Submission.Status.FAILED
    assert submission.failure_kind == Submission.FailureKind.INVALID_PREDICTIONS
    assert "440" in submission.failure_message  # 540 test ids, 100 written
    # Kept all the same, so that a rescore after a solution fix can reconsider them.
    assert submission.predictions


def test_crash_fails_with_runtime_error_and_exit_code(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    archive = script_archive("crasher", "import sys\nprint('oops')\nsys.exit(3)\n")

    submission = _evaluate(_submit(digits, archive))

    assert submission.failure_kind == Submission.FailureKind.RUNTIME_ERROR
    assert "exit code 3" in submission.failure_message
    assert "oops" in submission.log_tail


def test_not_an_image_fails_with_invalid_image(digits: Competition, tmp_path: Path) -> None:
    # A tar with a manifest.json passes the submit-time look at its first bytes (a text
    # file does not even get queued: tests/api/test_code_submissions_api.py); the worker
    # reads it through and refuses it.
    archive = tmp_path / "image.tar"
    archive.write_bytes(image_tar(b"this is a text file, not docker save output\n" * 100))

    submission = _evaluate(_submit(digits, archive))

    assert submission.failure_kind == Submission.FailureKind.INVALID_IMAGE
    assert "docker save" in submission.failure_message


def test_unreachable_engine_is_a_platform_fault_and_requeues(
    digits: Competition, baseline_archive: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    submission = _submit(digits, baseline_archive)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")

    with pytest.raises(PlatformFault):
        submission_evaluate(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Submission.Status.QUEUED
    assert submission.failure_kind == ""
