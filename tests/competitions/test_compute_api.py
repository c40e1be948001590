"""The compute endpoints (/compute/v1/) attacked as a compute worker that goes beyond its
run: forged, foreign, expired and stale credentials, the solution asked for by name, bad
outcomes. The scoring side records what a well-behaved worker posts. No container runs:
the broker is replaced at its boundary (the message is read back and handed to the
scoring task's service)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.test import Client, override_settings
from factories import CompetitionFactory, SubmissionFactory, TeamFactory

from competitions.bundles import competition_import_bundle
from competitions.evaluation import compute, credentials, queue, transitions
from competitions.models import Competition, Submission

WORKER = "computehost/4242-99"


def _queued(competition: Competition, **fields: Any) -> Submission:
    return SubmissionFactory(
        competition=competition,
        team=TeamFactory(competition=competition),
        status=Submission.Status.QUEUED,
        public_score=None,
        private_score=None,
        **fields,
    )


def _call(method: str, submission: Submission, path: str, token: str, **kwargs: Any) -> Any:
    client = Client()
    url = f"/compute/v1/runs/{submission.pk}/{path}"
    return getattr(client, method)(url, HTTP_AUTHORIZATION=f"Run {token}", **kwargs)


def _claim(submission: Submission) -> dict[str, Any]:
    token = credentials.dispatch_token(submission_id=submission.pk)
    response = _call(
        "post", submission, "claim", token, data={"worker": WORKER}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    messages: list[tuple[str, list[Any]]] = []
    monkeypatch.setattr(
        compute.current_app, "send_task", lambda name, args, **_: messages.append((name, args))
    )
    return messages


@pytest.mark.django_db
def test_claim_needs_the_runs_own_live_dispatch_token(digits: Competition) -> None:
    mine, other = _queued(digits), _queued(digits)
    body = {"data": {"worker": WORKER}, "content_type": "application/json"}
    foreign = credentials.dispatch_token(submission_id=other.pk)
    assert _call("post", mine, "claim", foreign, **body).status_code == 403
    assert _call("post", mine, "claim", foreign + "x", **body).status_code == 403
    response = Client().post(f"/compute/v1/runs/{mine.pk}/claim", **body)
    assert response.status_code == 403 and "Authorization: Run" in response.json()["detail"]
    token = credentials.dispatch_token(submission_id=mine.pk)
    bad_worker = {"data": {"worker": "x; rm -rf"}, "content_type": "application/json"}
    assert _call("post", mine, "claim", token, **bad_worker).status_code == 403
    mine.refresh_from_db()
    assert mine.status == Submission.Status.QUEUED and mine.attempts == 0

    spec = _claim(mine)
    assert spec["limits"]["memory_bytes"] == digits.memory_limit_bytes
    assert spec["image_sha256"] == mine.image_sha256
    # The same dispatch token cannot take the run twice (a second delivery, or a thief).
    assert _call("post", mine, "claim", token, **body).status_code == 409
    mine.refresh_from_db()
    assert (mine.status, mine.lease_owner, mine.attempts) == ("running", WORKER, 1)


@pytest.fixture(params=["local", "s3"])
def stored_digits(request: pytest.FixtureRequest, db: None, digits_bundle: Path) -> Competition:
    """The digits competition with its files on the file system or in a bucket
    (PODIUM_STORAGE=s3, a real S3 server: tests/s3server.py)."""
    if request.param == "s3":
        request.getfixturevalue("s3_storage")
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    return competition


@pytest.mark.django_db
def test_inputs_never_include_the_solution(stored_digits: Competition) -> None:
    digits = stored_digits
    submission = _queued(digits)
    lease = _claim(submission)["lease_token"]
    manifest = _call("get", submission, "inputs/", lease).json()
    names = [f["name"] for f in manifest["files"]]
    assert "sample_submission.csv" in names
    assert any(n.startswith("train/") for n in names) and any(n.startswith("test/") for n in names)
    assert not [n for n in names if "solution" in n]
    for entry in manifest["files"]:
        response = _call("get", submission, f"inputs/{entry['name']}", lease)
        assert response.status_code == 200
        content = b"".join(response.streaming_content)
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
    solution = digits.files.get(kind="solution").file.read()
    for name in ("solution.csv", "../solution.csv", "test/../solution.csv", "train/../../x"):
        response = _call("get", submission, f"inputs/{name}", lease)
        assert response.status_code == 404, name
        assert solution not in response.content


@pytest.mark.django_db
def test_a_lease_token_opens_only_its_run_while_its_lease_is_held(digits: Competition) -> None:
    mine, other = _queued(digits), _queued(digits)
    lease = _claim(mine)["lease_token"]
    _claim(other)
    assert _call("get", other, "image", lease).status_code == 403
    assert _call("post", mine, "heartbeat", lease).status_code == 200
    expired = credentials.lease_token(
        submission_id=mine.pk, owner=WORKER, attempts=1, valid_seconds=-1
    )
    assert _call("post", mine, "heartbeat", expired).status_code == 403
    # Cancelled by the team: the worker's next renewal learns it, and nothing opens again.
    assert transitions.cancel(submission_id=mine.pk)
    for method, path in (("post", "heartbeat"), ("get", "image"), ("get", "inputs/")):
        assert _call(method, mine, path, lease).status_code == 410, path


@pytest.mark.django_db
def test_a_reaped_attempts_token_is_refused_after_the_run_is_claimed_again(
    digits: Competition,
) -> None:
    submission = _queued(digits)
    first = _claim(submission)["lease_token"]
    assert transitions.reap(submission_id=submission.pk, owner=WORKER, delay_seconds=0)
    second = _claim(submission)["lease_token"]  # same worker name, next attempt
    assert _call("post", submission, "heartbeat", first).status_code == 410
    assert _call("post", submission, "heartbeat", second).status_code == 200


@pytest.mark.django_db
def test_bad_outcomes_are_refused_and_change_nothing(
    digits: Competition, sent: list[tuple[str, list[Any]]]
) -> None:
    submission = _queued(digits)
    lease = _claim(submission)["lease_token"]
    usage = {"exit_code": 0, "duration_seconds": 1.0, "log_tail": ""}
    for failure, detail in (
        ({"kind": "platform_error", "message": "x"}, "failure.kind"),
        ({"kind": "invalid_predictions", "message": "x"}, "failure.kind"),
        (None, "post the predictions"),
    ):
        response = _call(
            "post",
            submission,
            "result",
            lease,
            data={"usage": usage, "failure": failure},
            content_type="application/json",
        )
        assert response.status_code == 400 and detail in response.json()["detail"]
    response = _call(
        "post",
        submission,
        "result",
        lease,
        data={"usage": {"peak_memory_bytes": -5}, "failure": None},
        content_type="application/json",
    )
    assert response.status_code == 400
    submission.refresh_from_db()
    assert submission.status == "running" and submission.lease_owner == WORKER and not sent


@pytest.mark.django_db
def test_posted_predictions_are_scored_on_the_platform(
    stored_digits: Competition, sent: list[tuple[str, list[Any]]]
) -> None:
    digits = stored_digits
    submission = _queued(digits)
    lease = _claim(submission)["lease_token"]
    sample = digits.files.get(kind="sample_submission").file.read()
    response = _call("put", submission, "predictions", lease, data=sample, content_type="text/csv")
    assert response.status_code == 200 and response.json()["size"] == len(sample)
    usage = {"exit_code": 0, "duration_seconds": 3.5, "cpu_seconds": 2.0, "log_tail": "done"}
    response = _call(
        "post",
        submission,
        "result",
        lease,
        data={"usage": usage, "failure": None},
        content_type="application/json",
    )
    assert response.status_code == 202
    # The lease passed to the scoring task: the compute worker's token opens nothing now.
    assert _call("post", submission, "heartbeat", lease).status_code == 410
    [(name, args)] = sent
    assert name == "scoring.record_computed"
    assert default_storage.exists(args[5])  # staged where every scoring worker finds it
    compute.run_record(
        submission_id=args[0],
        owner=args[1],
        usage=args[2],
        failure_kind=args[3],
        failure_message=args[4],
        staged=args[5],
    )
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED, submission.failure_message
    assert submission.public_score is not None and submission.private_score is not None
    assert submission.duration_seconds == 3.5 and submission.log_tail == "done"
    assert submission.predictions.read() == sample
    assert submission.lease_owner == ""
    assert not default_storage.exists(args[5])


@pytest.mark.django_db
def test_a_posted_failure_is_recorded_as_the_sandbox_said(
    digits: Competition, sent: list[tuple[str, list[Any]]]
) -> None:
    submission = _queued(digits)
    lease = _claim(submission)["lease_token"]
    failure = {"kind": "memory_limit", "message": "exceeded memory limit (8 GB)"}
    response = _call(
        "post",
        submission,
        "result",
        lease,
        data={"usage": {"exit_code": 137, "oom_killed": True}, "failure": failure},
        content_type="application/json",
    )
    assert response.status_code == 202
    [(_, args)] = sent
    compute.run_record(
        submission_id=args[0],
        owner=args[1],
        usage=args[2],
        failure_kind=args[3],
        failure_message=args[4],
        staged=args[5],
    )
    submission.refresh_from_db()
    assert (submission.status, submission.failure_kind) == ("failed", "memory_limit")
    assert submission.oom_killed and submission.exit_code == 137


@pytest.mark.django_db
def test_a_compute_fault_requeues_the_run_without_counting_it(digits: Competition) -> None:
    submission = _queued(digits)
    lease = _claim(submission)["lease_token"]
    response = _call(
        "post", submission, "fault", lease, data={"message": "engine down"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 202
    submission.refresh_from_db()
    assert submission.status == Submission.Status.QUEUED and submission.not_before is not None


@pytest.mark.django_db
@override_settings(PODIUM_COMPUTE_COMPETITION_QUEUES={"gpu-comp": "org-a"})
def test_runs_are_routed_by_their_needs_and_their_competitions_queue(
    digits: Competition,
) -> None:
    cpu = _queued(digits)
    assert queue.compute_route(cpu.pk) == (
        "compute",
        {"cpus": digits.cpu_limit, "memory_bytes": digits.memory_limit_bytes, "gpus": 0},
    )
    gpu_comp = CompetitionFactory(slug="gpu", gpu_limit=1)
    assert queue.compute_route(_queued(gpu_comp).pk)[0] == "compute-gpu"
    own = CompetitionFactory(slug="gpu-comp", gpu_limit=1)
    assert queue.compute_route(_queued(own).pk) == (
        "org-a",
        {"cpus": own.cpu_limit, "memory_bytes": own.memory_limit_bytes, "gpus": 1},
    )


@pytest.mark.django_db
@override_settings(PODIUM_COMPUTE_HOST_TOKEN="host-secret")
def test_compute_hosts_capacity_and_runs_are_on_the_queue_page(digits: Competition) -> None:
    beat = {
        "name": "gpu-box/77-1",
        "queues": ["compute"],
        "capacity": {
            "cpus": 16,
            "memory_bytes": 64 * 2**30,
            "gpus": [],
            "gpu_note": "GPU probe failed, no GPU queue served: could not select device driver",
            "running": [41, 42],
        },
    }
    client = Client()
    url = "/compute/v1/hosts/beat"
    kwargs = {"data": beat, "content_type": "application/json"}
    assert client.post(url, HTTP_AUTHORIZATION="Host wrong", **kwargs).status_code == 403
    assert client.post(url, **kwargs).status_code == 403
    bad = {**beat, "capacity": {"cpus": "many"}}
    response = client.post(
        url, HTTP_AUTHORIZATION="Host host-secret", data=bad, content_type="application/json"
    )
    assert response.status_code == 400
    assert client.post(url, HTTP_AUTHORIZATION="Host host-secret", **kwargs).status_code == 200

    staff = User.objects.create_superuser("organizer", password="pw-Organizer-1")
    admin = Client()
    admin.force_login(staff)
    page = admin.get("/admin/competitions/submission/?queue=waiting").content.decode()
    assert "Compute host compute:gpu-box/77-1: 16 CPUs, 64 GB memory, no GPU" in page
    assert "GPU probe failed, no GPU queue served" in page
    assert "queues compute; running #41, #42." in page
