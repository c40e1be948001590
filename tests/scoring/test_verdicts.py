"""Right verdicts through the real pipeline: whose limit a run hit, and what it used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest
from django.contrib.auth.models import User

from competitions.evaluation.pipeline import submission_evaluate
from competitions.models import Competition, Submission
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.django_db]
MB = 2**20


def _run(competition: Competition, archive: Path) -> Submission:
    user = User.objects.create_user(username="ada")
    competition_join(user=user, competition=competition)
    with archive.open("rb") as fh:
        submission = submission_create(user=user, competition=competition, image=fh)
    submission_evaluate(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission


PREDICT = """
import pandas as pd
test = pd.read_csv("/data/test/test.csv")
pd.DataFrame({"id": test["id"], "label": 1}).to_csv("/output/predictions.csv", index=False)
"""


def test_exit_0_with_valid_predictions_is_scored_though_a_child_was_killed_for_memory(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    Competition.objects.filter(pk=digits.pk).update(memory_limit_bytes=256 * MB)
    archive = script_archive(
        "child-oom",
        dedent(
            """
        import subprocess, sys
        hog = "chunks = []\\nwhile True: chunks.append(bytearray(16 * 2**20))"
        child = subprocess.run([sys.executable, "-c", hog])
        print("child ended with", child.returncode, flush=True)
        """
        )
        + PREDICT,
    )

    submission = _run(digits, archive)

    assert submission.status == Submission.Status.SCORED, submission.failure_message
    assert submission.exit_code == 0
    assert submission.oom_killed  # recorded: a process of the run was killed for memory
    assert "child ended with -9" in submission.log_tail
    assert submission.public_score is not None


def test_an_oom_killed_run_reports_a_peak_at_its_limit(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    Competition.objects.filter(pk=digits.pk).update(memory_limit_bytes=256 * MB)
    archive = script_archive(
        "fast-hog", "chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 2**20))\n"
    )

    submission = _run(digits, archive)

    assert submission.failure_kind == Submission.FailureKind.MEMORY_LIMIT
    assert "memory limit (256 MB)" in submission.failure_message
    assert 0.95 * 256 * MB <= submission.peak_memory_bytes <= 257 * MB


def test_tmp_is_disk_not_memory_a_run_may_write_more_there_than_its_memory_limit(
    digits: Competition, script_archive: Callable[[str, str], Path], settings
) -> None:
    Competition.objects.filter(pk=digits.pk).update(memory_limit_bytes=128 * MB)
    settings.PODIUM_SANDBOX_TMP_BYTES = 512 * MB
    archive = script_archive(
        "tmp-writer",
        dedent(
            """
        import os
        block = os.urandom(MB := 2**20)
        with open("/tmp/scratch.bin", "wb") as fh:
            for _ in range(300):
                fh.write(block)
        print("wrote", os.path.getsize("/tmp/scratch.bin") // MB, "MB to /tmp", flush=True)
        """
        )
        + PREDICT,
    )

    submission = _run(digits, archive)

    assert submission.status == Submission.Status.SCORED, submission.failure_message
    assert "wrote 300 MB to /tmp" in submission.log_tail
    assert not submission.oom_killed


def test_filling_tmp_says_it_was_tmp_and_its_size(
    digits: Competition, script_archive: Callable[[str, str], Path], settings
) -> None:
    settings.PODIUM_SANDBOX_TMP_BYTES = 32 * MB
    archive = script_archive(
        "tmp-filler",
        """
        with open("/tmp/scratch.bin", "wb") as fh:
            while True:
                fh.write(b"x" * 2**20)
        """,
    )

    submission = _run(digits, archive)

    assert submission.failure_kind == Submission.FailureKind.DISK_LIMIT
    assert "filled /tmp" in submission.failure_message
    assert "32 MB" in submission.failure_message
    assert "memory" in submission.failure_message  # it says /tmp is not memory
