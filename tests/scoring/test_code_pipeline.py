"""Code submissions through the real sandbox and scorer: real containers on podium/python:3.11.

Few container runs on purpose (CI time): a main.py that is scored, a run.sh that fails
(and finds /code read-only), a main.py over the time limit. The refusals need no
container: a runtime image missing on the worker, and an archive swapped after submit.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from artifacts import code_zip
from django.contrib.auth.models import User
from django.core.files.base import ContentFile

from competitions.evaluation.pipeline import PlatformFault, submission_evaluate
from competitions.models import Competition, RuntimeImage, Submission
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
BASELINE = (ROOT / "examples" / "baseline-sklearn" / "main.py").read_bytes()


@pytest.fixture
def coded(digits: Competition, engine) -> Competition:
    runtime, _ = RuntimeImage.objects.get_or_create(name="podium/python:3.11")
    digits.runtime_images.add(runtime)
    return digits


def _submit(competition: Competition, content: bytes, name: str = "code.zip") -> Submission:
    user, _ = User.objects.get_or_create(username="alice")
    if not competition.teams.filter(memberships__user=user).exists():
        competition_join(user=user, competition=competition)
    return submission_create(
        user=user, competition=competition, image=ContentFile(content, name=name)
    )


def _evaluate(submission: Submission) -> Submission:
    submission_evaluate(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission


def test_main_py_runs_on_the_runtime_image_and_is_scored(coded: Competition) -> None:
    submission = _submit(coded, code_zip({"main.py": BASELINE}))
    assert (submission.kind, submission.runtime_image.name) == ("code", "podium/python:3.11")

    submission = _evaluate(submission)

    assert submission.status == Submission.Status.SCORED, submission.failure_message
    assert submission.public_score > 0.9
    assert "wrote 540 predictions" in submission.log_tail


def test_run_sh_runs_in_a_read_only_code_folder_and_its_exit_code_is_a_runtime_error(
    coded: Competition,
) -> None:
    script = (
        b"#!/bin/sh\n"
        b'echo "cwd=$(pwd)"\n'
        b"touch /code/written 2>&1 || echo code-is-read-only\n"
        b"exit 3\n"
    )
    submission = _evaluate(_submit(coded, code_zip({"run.sh": script}, executable=("run.sh",))))

    assert submission.status == Submission.Status.FAILED
    assert submission.failure_kind == Submission.FailureKind.RUNTIME_ERROR
    assert "exit code 3" in submission.failure_message
    assert "cwd=/code" in submission.log_tail
    assert "code-is-read-only" in submission.log_tail


def test_code_over_the_time_limit_fails_with_time_limit(coded: Competition) -> None:
    Competition.objects.filter(pk=coded.pk).update(time_limit_seconds=2)
    submission = _evaluate(_submit(coded, code_zip({"main.py": b"import time\ntime.sleep(60)\n"})))

    assert submission.failure_kind == Submission.FailureKind.TIME_LIMIT, submission.failure_message


def test_a_runtime_image_gone_from_the_worker_is_the_platforms_fault(coded: Competition) -> None:
    submission = _submit(coded, code_zip())
    gone = RuntimeImage.objects.create(name="podium-test/never-built:0")
    Submission.objects.filter(pk=submission.pk).update(runtime_image=gone)

    with pytest.raises(PlatformFault, match="never-built:0 is not built on this host"):
        submission_evaluate(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Submission.Status.QUEUED  # retried later, never counted
    assert submission.failure_kind == ""


def test_an_archive_swapped_for_a_bomb_after_submit_is_refused_before_extraction(
    coded: Competition, settings
) -> None:
    """The worker checks again: a stored archive replaced behind the submit check (or a
    check made under other limits) fails as invalid_code, and nothing is extracted."""
    submission = _submit(coded, code_zip())
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("main.py", "print(1)\n")
        archive.writestr("zeros", b"\0" * (20 << 20))
    Path(submission.image.path).write_bytes(bomb.getvalue())

    submission = _evaluate(submission)

    assert submission.failure_kind == Submission.FailureKind.INVALID_CODE
    assert "decompression bomb" in submission.failure_message
    assert not (Path(settings.PODIUM_WORK_DIR) / "code" / str(submission.pk)).exists()
