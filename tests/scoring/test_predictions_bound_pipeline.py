"""The hostile participant's 250 MB predictions.csv (ids repeated, millions of lines), scaled
down, through a real container and the real pipeline: refused as the team's
invalid_predictions before it is parsed, counted, and not kept on disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from competitions.evaluation.pipeline import submission_evaluate
from competitions.models import Competition, Submission
from competitions.run_reports import run_report_for_user
from competitions.services.submissions import counted_filter, submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def _kept_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def test_oversized_predictions_are_the_teams_invalid_predictions_and_not_kept(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    # 12 MB of one repeated row for 540 test ids (bound: 1 MiB); the report's file was
    # 250 MB and cost the worker 2 GB of memory to parse.
    archive = script_archive(
        "repeated-ids",
        """
        with open("/output/predictions.csv", "w") as out:
            out.write("id,label\\n")
            out.write("0,1\\n" * 3_000_000)
        """,
    )
    user = User.objects.create_user(username="mallory")
    competition_join(user=user, competition=digits)
    with archive.open("rb") as fh:
        submission = submission_create(user=user, competition=digits, image=fh)
    kept_before = _kept_files()

    submission_evaluate(submission_id=submission.pk)
    submission.refresh_from_db()

    assert submission.status == Submission.Status.FAILED
    assert submission.failure_kind == Submission.FailureKind.INVALID_PREDICTIONS
    assert submission.failure_message.startswith("predictions.csv is 11.4 MB, over the most")
    assert Submission.objects.filter(counted_filter(digits), pk=submission.pk).exists()
    assert not submission.predictions
    assert _kept_files() - kept_before == set()
    assert not (Path(settings.PODIUM_WORK_DIR) / "runs" / str(submission.pk)).exists()
    report = run_report_for_user(user=user, submission=submission)
    assert report.failure_message == (
        "predictions.csv is over the most that 540 rows of predictions can take (1 MB). "
        "Write only the columns id,label, one row for each of the 540 ids in "
        "sample_submission.csv."
    )
