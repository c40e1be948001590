"""Debug runs and rescores through the real sandbox: real images, real containers."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from django.contrib.auth.models import User

from competitions.evaluation.pipeline import submission_evaluate
from competitions.models import Competition, Submission
from competitions.services.results import competition_rescore
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.django_db]

ECHO_TEST = """
import pandas as pd
test = pd.read_csv("/data/test/test.csv")
print("test rows:", len(test))
pd.DataFrame({"id": test["id"], "label": 1}).to_csv("/output/predictions.csv", index=False)
"""


def _run(competition: Competition, archive: Path, *, debug: bool, name: str) -> Submission:
    user = User.objects.create_user(username=name)
    competition_join(user=user, competition=competition)
    with archive.open("rb") as fh:
        submission = submission_create(user=user, competition=competition, image=fh, debug=debug)
    submission_evaluate(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission


def test_debug_run_sees_a_public_sample_and_is_validated_not_scored(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    Competition.objects.filter(pk=digits.pk).update(debug_sample_rows=25)
    digits.refresh_from_db()
    archive = script_archive("echo-test", ECHO_TEST)

    debug = _run(digits, archive, debug=True, name="dbg")

    assert debug.status == Submission.Status.SCORED, debug.failure_message
    assert "test rows: 25" in debug.log_tail
    # A debug run is no oracle on hidden labels: validated, never scored (issue 10).
    assert (debug.public_score, debug.private_score) == (None, None)
    assert debug.worker == socket.gethostname()
    assert debug.scored_solution_sha256 == ""  # scored on a sample, never stale
    kept = pd.read_csv(debug.predictions.path)
    solution = pd.read_csv(digits.files.get(kind="solution").file.path).set_index("id")
    assert set(solution.loc[kept["id"], "Usage"]) == {"Public"}

    again = _run(digits, archive, debug=True, name="dbg2")
    assert list(pd.read_csv(again.predictions.path)["id"]) == list(kept["id"])  # stable sample


def test_rescore_changes_nothing_when_the_solution_did_not_change(
    digits: Competition, script_archive: Callable[[str, str], Path]
) -> None:
    scored = _run(digits, script_archive("echo-test", ECHO_TEST), debug=False, name="r")
    assert scored.status == Submission.Status.SCORED, scored.failure_message
    # Scored on the stored solution, and says so (what the stale-score notice compares).
    assert scored.scored_solution_sha256 == digits.files.get(kind="solution").sha256
    organizer = User.objects.create_user(username="org", is_staff=True)

    assert competition_rescore(actor=organizer, competition=digits) == 1

    again = Submission.objects.get(pk=scored.pk)
    assert (again.public_score, again.private_score) == (scored.public_score, scored.private_score)
    assert digits.audit_records.get(action="rescore").details["changed"] == 0
