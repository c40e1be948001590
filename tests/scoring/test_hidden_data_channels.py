"""Hidden data stays hidden: hostile runs (real images, real containers) try to carry the
hidden test inputs out through every channel a run controls, and a participant finds
none of it on any page, status poll, API answer or CLI line (competitions.run_reports).

Each run reads /data/test/test.csv and writes a secret made of a test row's values
("LEAK" + pixel values): into a column name, into the label values, into an id, into
its log and exit code. The test then reads everything the team can read and looks for
the marker and for the actual hidden values; the organizer still sees the details.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import override_settings
from podium_cli.main import main as podium_main
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from competitions.bundles import competition_import_bundle
from competitions.evaluation.pipeline import submission_evaluate
from competitions.models import Competition, Notification, Submission
from competitions.services.files import competition_file_store
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker]

# The live server as the API and CLI tests start it (see tests/api/apifixtures.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
import apifixtures  # noqa: E402

_media_url_while_the_live_server_starts = apifixtures._media_url_while_the_live_server_starts
live_server = apifixtures.live_server

MARKER = "LEAK"

# The first line of every hostile script: the secret is a hidden test row's values.
SECRET = f"""
import sys, time
import pandas as pd
test = pd.read_csv("/data/test/test.csv")
secret = "{MARKER}" + "_".join(str(v) for v in test.iloc[0, 1:25])
"""


def _secret_of(competition: Competition) -> str:
    """The secret a run computes, from the test file it saw (the full hidden one)."""
    test = pd.read_csv(competition.files.get(kind="test").file.path)
    return MARKER + "_".join(str(v) for v in test.iloc[0, 1:25])


def _hidden_values(competition: Competition) -> list[str]:
    """Hidden strings no participant may see: a test row's values, joined as the run
    joins them."""
    test = pd.read_csv(competition.files.get(kind="test").file.path)
    return ["_".join(str(v) for v in test.iloc[0, 1:25])]


def _run(
    competition: Competition, archive: Path, *, debug: bool = False
) -> tuple[User, Submission]:
    user = User.objects.create_user(username="alice", password="pw")
    competition_join(user=user, competition=competition)
    with archive.open("rb") as fh:
        submission = submission_create(user=user, competition=competition, image=fh, debug=debug)
    submission_evaluate(submission_id=submission.pk)
    submission.refresh_from_db()
    return user, submission


Cli = Callable[..., str]


@pytest.fixture
def cli(live_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:  # type: ignore[no-untyped-def]
    """Run `podium ARGS…` in-process against the live server with a user's token."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PODIUM_URL", live_server.url)

    def run(token: str, *args: object) -> str:
        monkeypatch.setenv("PODIUM_TOKEN", token)
        out, err = io.StringIO(), io.StringIO()
        podium_main([str(a) for a in args], stdout=out, stderr=err)
        return out.getvalue() + err.getvalue()

    return run


def _everything_the_team_sees(user: User, submission: Submission, cli: Cli) -> dict[str, str]:
    """Every channel a participant reads about a run, as text: pages, status poll, API
    (detail, list, log, leaderboard) and the CLI's output."""
    slug = submission.competition.slug
    web = Client()
    web.force_login(user)
    token, _ = Token.objects.get_or_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    seen = {
        "submission page": web.get(f"/submissions/{submission.pk}/"),
        "my submissions page": web.get(f"/c/{slug}/submissions/"),
        "status.json": web.get(f"/submissions/{submission.pk}/status.json"),
        "leaderboard page": web.get(f"/c/{slug}/leaderboard/"),
        "api detail": api.get(f"/api/v1/submissions/{submission.pk}/"),
        "api list": api.get(f"/api/v1/competitions/{slug}/submissions/"),
        "api log": api.get(f"/api/v1/submissions/{submission.pk}/log/"),
        "api leaderboard": api.get(f"/api/v1/competitions/{slug}/leaderboard/"),
    }
    texts = {}
    for name, response in seen.items():
        assert response.status_code in (200, 403), (name, response.status_code)
        texts[name] = response.content.decode()
    texts["cli submission"] = cli(token.key, "submission", submission.pk)
    texts["cli log"] = cli(token.key, "submission", submission.pk, "--log")
    texts["cli submissions"] = cli(token.key, "competitions", "submissions", slug)
    # It answered: the CLI names the status as the site does (a valid debug run: checked).
    shown = (
        "checked" if submission.is_debug and submission.status == "scored" else submission.status
    )
    assert f"status:            {shown}" in texts["cli submission"]
    return texts


def _assert_nothing_hidden(texts: dict[str, str], hidden: list[str]) -> None:
    for channel, text in texts.items():
        assert MARKER not in text, f"the run's own text reached the team through {channel}"
        for value in hidden:
            assert value not in text, f"hidden test values reached the team through {channel}"


@pytest.fixture
def competition(
    transactional_db: None, digits_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> Competition:
    # Runs are evaluated here, in the test's process: no task goes to a broker.
    monkeypatch.setattr(
        "competitions.evaluation.tasks.enqueue_evaluation", lambda submission_id: None
    )
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    return competition


def _archive(script_archive: Callable[[str, str], Path], name: str, body: str) -> Path:
    return script_archive(f"hidden-{name}", SECRET + body)


def test_test_inputs_in_a_header_name_do_not_reach_the_team(
    competition: Competition, script_archive: Callable[[str, str], Path], cli: Cli
) -> None:
    archive = _archive(
        script_archive,
        "header",
        """
pd.DataFrame({"id": test["id"], "label": 1, secret: 1}).to_csv(
    "/output/predictions.csv", index=False)
""",
    )
    user, submission = _run(competition, archive)

    assert submission.failure_kind == Submission.FailureKind.INVALID_PREDICTIONS
    secret = _secret_of(competition)
    assert secret in submission.failure_message  # the organizer still sees the detail
    assert "Column 3 of the header of predictions.csv is not expected" in (
        submission.failure_safe_message
    )
    texts = _everything_the_team_sees(user, submission, cli)
    _assert_nothing_hidden(texts, _hidden_values(competition))
    assert "Column 3 of the header" in texts["api detail"]  # what the team does learn


def test_test_inputs_in_label_values_do_not_reach_the_team(
    competition: Competition, script_archive: Callable[[str, str], Path], cli: Cli
) -> None:
    archive = _archive(
        script_archive,
        "values",
        """
pd.DataFrame({"id": test["id"], "label": secret}).to_csv("/output/predictions.csv", index=False)
""",
    )
    user, submission = _run(competition, archive)

    assert submission.failure_kind == Submission.FailureKind.INVALID_PREDICTIONS
    assert _secret_of(competition) in submission.failure_message
    texts = _everything_the_team_sees(user, submission, cli)
    _assert_nothing_hidden(texts, _hidden_values(competition))
    assert "data row 1: the value in column 'label' is not a number" in texts["api detail"]


def test_test_inputs_in_an_id_do_not_reach_the_team(
    competition: Competition, script_archive: Callable[[str, str], Path], cli: Cli
) -> None:
    archive = _archive(
        script_archive,
        "ids",
        """
ids = test["id"].astype(str).tolist()
ids[3] = secret
pd.DataFrame({"id": ids, "label": 1}).to_csv("/output/predictions.csv", index=False)
""",
    )
    user, submission = _run(competition, archive)

    assert submission.failure_kind == Submission.FailureKind.INVALID_PREDICTIONS
    assert _secret_of(competition) in submission.failure_message
    texts = _everything_the_team_sees(user, submission, cli)
    _assert_nothing_hidden(texts, _hidden_values(competition))
    assert "Data row 4 holds an id that is not a test id" in texts["api detail"]


def test_log_exit_code_and_usage_figures_carry_nothing_out(
    competition: Competition, script_archive: Callable[[str, str], Path], cli: Cli
) -> None:
    archive = _archive(
        script_archive,
        "exit",
        """
print(secret, flush=True)
print(secret, file=sys.stderr, flush=True)
ballast = bytearray(int(test.iloc[0, 5] + 1) * 3 * 2**20)  # memory as a figure
time.sleep(1.0 + int(test.iloc[0, 6]) / 64)  # duration as a figure
sys.exit(37 + int(test.iloc[0, 5]))  # 8 bits a run through the exit code
""",
    )
    user, submission = _run(competition, archive)

    assert submission.failure_kind == Submission.FailureKind.RUNTIME_ERROR
    exit_code = submission.exit_code
    assert exit_code is not None and exit_code >= 37
    assert _secret_of(competition) in submission.log_tail  # organizers read the log
    texts = _everything_the_team_sees(user, submission, cli)
    _assert_nothing_hidden(texts, _hidden_values(competition))
    api = json.loads(texts["api detail"])
    assert api["exit_code"] is None and api["exit_status"] == "non-zero"
    assert f"exit code {exit_code}" not in texts["submission page"]
    assert f"exit_code:         {exit_code}" not in texts["cli submission"]
    assert api["duration_seconds"] == round(api["duration_seconds"])  # whole seconds
    assert api["peak_memory_bytes"] is None or api["peak_memory_bytes"] % (64 * 2**20) == 0
    for field in ("started_at", "finished_at"):
        assert "." not in api[field], f"{field} has sub-second precision"
    status = json.loads(texts["status.json"])
    assert status["elapsed_seconds"] == round(status["elapsed_seconds"])
    assert "hide the logs" in texts["api log"]  # 403 with the reason, not the log


def test_a_debug_run_quotes_its_own_output_in_full(
    competition: Competition, script_archive: Callable[[str, str], Path], cli: Cli
) -> None:
    """A debug run reads only the public sample: it may show everything it wrote."""
    archive = _archive(
        script_archive,
        "header",
        """
pd.DataFrame({"id": test["id"], "label": 1, secret: 1}).to_csv(
    "/output/predictions.csv", index=False)
""",
    )
    user, submission = _run(competition, archive, debug=True)

    assert submission.failure_kind == Submission.FailureKind.INVALID_PREDICTIONS
    texts = _everything_the_team_sees(user, submission, cli)
    assert MARKER in json.loads(texts["api detail"])["failure_message"]
    assert "unexpected column(s)" in texts["submission page"]


def test_a_valid_debug_run_is_validated_but_never_scored_on_hidden_labels(
    competition: Competition, script_archive: Callable[[str, str], Path], cli: Cli
) -> None:
    """Two debug runs that predict different classes read the same: no score, no oracle."""
    reports = []
    user = None
    for label in (0, 1):
        archive = script_archive(
            f"debug-constant-{label}",
            f"""
import pandas as pd
test = pd.read_csv("/data/test/test.csv")
pd.DataFrame({{"id": test["id"], "label": {label}}}).to_csv("/output/predictions.csv", index=False)
""",
        )
        if user is None:
            user, submission = _run(competition, archive, debug=True)
        else:
            with archive.open("rb") as fh:
                submission = submission_create(
                    user=user, competition=competition, image=fh, debug=True
                )
            submission_evaluate(submission_id=submission.pk)
            submission.refresh_from_db()
        assert submission.status == Submission.Status.SCORED, submission.failure_message
        assert (submission.public_score, submission.private_score) == (None, None)
        texts = _everything_the_team_sees(user, submission, cli)
        api = json.loads(texts["api detail"])
        assert api["note"].startswith("The predictions are valid. Debug runs are not scored")
        assert "Debug runs are not scored" in texts["submission page"]
        reports.append({k: api[k] for k in ("status", "public_score", "private_score", "note")})
    assert reports[0] == reports[1]


def test_test_inputs_in_a_class_the_metric_refuses_do_not_reach_the_team(
    competition: Competition, script_archive: Callable[[str, str], Path], cli: Cli
) -> None:
    """A metric error (f1 is binary: a third class is refused) quotes the classes it saw
    in the organizer's detail; the team's message is a template."""
    solution = pd.read_csv(competition.files.get(kind="solution").file.path)
    binary = solution.drop(columns=["Usage"]).assign(label=solution["label"] % 2)
    competition_file_store(
        competition=competition,
        kind="solution",
        name="solution.csv",
        content=io.BytesIO(binary.to_csv(index=False).encode()),
    )
    Competition.objects.filter(pk=competition.pk).update(metric="f1")
    competition.refresh_from_db()
    archive = _archive(
        script_archive,
        "metric",
        """
labels = [1] * len(test)
labels[0] = 7_000_000 + int("".join(f"{int(v):02d}" for v in test.iloc[0, 20:23]))
pd.DataFrame({"id": test["id"], "label": labels}).to_csv("/output/predictions.csv", index=False)
""",
    )
    user, submission = _run(competition, archive)

    assert submission.failure_kind == Submission.FailureKind.INVALID_PREDICTIONS
    test = pd.read_csv(competition.files.get(kind="test").file.path)
    carried = str(7_000_000 + int("".join(f"{int(v):02d}" for v in test.iloc[0, 20:23])))
    assert carried in submission.failure_message  # the organizer's detail quotes it
    texts = _everything_the_team_sees(user, submission, cli)
    _assert_nothing_hidden(texts, [carried, *_hidden_values(competition)])
    assert "The metric f1 cannot score these predictions" in texts["api detail"]


@override_settings(PODIUM_RESULT_RELEASE_QUANTUM_SECONDS=10)
def test_when_a_run_ends_reaches_the_team_only_on_a_quantum_boundary(
    competition: Competition, script_archive: Callable[[str, str], Path], cli: Cli
) -> None:
    """A run that ends at a moment made of a hidden value: its outcome is recorded only on
    the next whole quantum after its start (the worker holds the run meanwhile), so
    everything that follows the recording (status, leaderboard, notification, quota, the
    next run's start) happens on the boundary; the team's view shows the boundary as its
    end and its durations in whole quanta (competitions.run_reports.release_at)."""
    archive = _archive(
        script_archive,
        "timing",
        """
time.sleep(int(test.iloc[0, 6]) % 16 / 10)  # the end as a figure
pd.DataFrame({"id": test["id"], "label": 1}).to_csv("/output/predictions.csv", index=False)
""",
    )
    user, submission = _run(competition, archive)
    assert submission.status == Submission.Status.SCORED  # what the organizer sees
    assert submission.started_at is not None and submission.finished_at is not None
    took = (submission.finished_at - submission.started_at).total_seconds()
    quanta = max(1, math.ceil(took / 10))
    release = submission.started_at + dt.timedelta(seconds=10 * quanta)
    assert submission.finished_at <= release  # the run's real end, kept for organizers
    # ... and its outcome was recorded on the boundary: the notification (made in the same
    # step as the leaderboard's update) is no older than it.
    notified = Notification.objects.get(user=user, submission=submission)
    assert notified.created_at >= release

    # Once released, the team sees the boundary as the end, durations in whole quanta.
    texts = _everything_the_team_sees(user, submission, cli)
    api = json.loads(texts["api detail"])
    assert api["status"] == "scored" and api["public_score"] is not None
    shown = dt.datetime.fromisoformat(api["finished_at"]) - dt.datetime.fromisoformat(
        api["started_at"]
    )
    assert shown == dt.timedelta(seconds=10 * quanta)
    assert api["duration_seconds"] == 10.0 * quanta
    # Times reach the team in whole seconds: the end it sees is the boundary, to the second
    # (never the real end, which may lie in that last second: it can be later than the
    # shown end by less than a second, as it was on a loaded CI machine).
    assert dt.datetime.fromisoformat(api["finished_at"]) == release.replace(microsecond=0)
    assert dt.datetime.fromisoformat(api["finished_at"]) >= submission.finished_at.replace(
        microsecond=0
    )
