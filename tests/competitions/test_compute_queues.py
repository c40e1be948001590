"""Organizer compute queues attacked through the compute API: a host holding one
organizer's secret (or the platform's token, or none) goes for another organizer's runs
and the shared runs, with the run's real dispatch token (as read from a shared broker).
No container runs: the broker is replaced at its boundary."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from factories import CompetitionFactory, SubmissionFactory, TeamFactory, UserFactory

from competitions.evaluation import compute, credentials, queue
from competitions.models import Competition, ComputeQueue, Submission, WorkerHeartbeat
from competitions.services.compute_queues import (
    compute_queue_create,
    compute_queue_issue_secret,
    compute_queue_revoke,
)
from podium.errors import ApplicationError

WORKER = "orghost/4242-99"
PLATFORM = "platform-host-token"
JSON = "application/json"


def _organizer(name: str) -> User:
    user = UserFactory(username=name, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_competition"))
    return User.objects.get(pk=user.pk)  # permissions are cached per user object


def _queued(competition: Competition) -> Submission:
    return SubmissionFactory(
        competition=competition,
        team=TeamFactory(competition=competition),
        status=Submission.Status.QUEUED,
        public_score=None,
        private_score=None,
    )


def _call(method: str, submission: Submission, path: str, run: str, host: str, **kw: Any) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Run {run}"}
    if host:
        headers["HTTP_X_PODIUM_HOST_TOKEN"] = host
    return getattr(Client(), method)(f"/compute/v1/runs/{submission.pk}/{path}", **headers, **kw)


def _claim(submission: Submission, host: str) -> Any:
    token = credentials.dispatch_token(submission_id=submission.pk)
    body = {"data": {"worker": WORKER}, "content_type": "application/json"}
    return _call("post", submission, "claim", token, host, **body)


@pytest.fixture
def world(settings: Any, digits: Competition, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    settings.DEBUG = False
    settings.PODIUM_COMPUTE_HOST_TOKEN = PLATFORM
    sent: list[tuple[str, list[Any]]] = []
    monkeypatch.setattr(
        compute.current_app, "send_task", lambda name, args, **_: sent.append((name, args))
    )
    alice, bob = _organizer("alice"), _organizer("bob")
    theirs = CompetitionFactory(slug="bobs")
    queue_a, secret_a = compute_queue_create(owner=alice, name="alice-lab", competitions=[digits])
    queue_b, secret_b = compute_queue_create(owner=bob, name="bob-lab", competitions=[theirs])
    return {
        "sent": sent,
        "alice": (queue_a, secret_a),
        "bob": (queue_b, secret_b),
        "shared": CompetitionFactory(slug="shared"),
    }


@pytest.mark.django_db
def test_runs_of_an_organizers_competition_go_to_its_queue(
    world: dict[str, Any], digits: Competition
) -> None:
    assert queue.compute_route(_queued(digits).pk)[0] == "org-alice-lab"
    assert queue.compute_route(_queued(world["shared"]).pk)[0] == "compute"
    stored = ComputeQueue.objects.get(name="alice-lab")
    secret = world["alice"][1]
    assert secret.startswith("pcq_") and secret not in (stored.token_hash, stored.token_prefix)
    assert len(secret) > 40 and secret.startswith(stored.token_prefix)


@pytest.mark.django_db
def test_another_organizers_token_cannot_claim_fetch_or_post_for_a_run(
    world: dict[str, Any], digits: Competition
) -> None:
    """The attacker holds bob's secret and alice's run's dispatch token (the broker is
    shared), then alice's lease token (stolen from her host)."""
    run = _queued(digits)
    secret_a, secret_b = world["alice"][1], world["bob"][1]
    for host in (secret_b, PLATFORM, "", "pcq_forged"):
        response = _claim(run, host)
        assert response.status_code == 403, host
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("queued", 0)

    spec = _claim(run, secret_a)
    assert spec.status_code == 200, spec.content
    lease = spec.json()["lease_token"]
    sample = digits.files.get(kind="sample_submission").file.read()
    attempts = [
        ("get", "image", {}),
        ("get", "inputs/", {}),
        ("get", "inputs/sample_submission.csv", {}),
        ("post", "heartbeat", {}),
        ("put", "predictions", {"data": sample, "content_type": "text/csv"}),
        ("post", "result", {"data": {"usage": {}, "failure": None}, "content_type": JSON}),
        ("post", "fault", {"data": {"message": "x"}, "content_type": JSON}),
    ]  # fmt: skip
    for method, path, kw in attempts:
        for host in (secret_b, PLATFORM, ""):
            response = _call(method, run, path, lease, host, **kw)
            assert response.status_code == 403, (path, host)
            assert sample not in response.content
    run.refresh_from_db()
    assert (run.status, run.lease_owner) == ("running", WORKER) and not world["sent"]

    # Alice's host finishes the run: her secret opens it all, and it is scored.
    assert _call("get", run, "inputs/", lease, secret_a).status_code == 200
    put = _call("put", run, "predictions", lease, secret_a, data=sample, content_type="text/csv")
    assert put.status_code == 200
    usage = {"usage": {"exit_code": 0, "duration_seconds": 1.0}, "failure": None}
    result = _call("post", run, "result", lease, secret_a, data=usage, content_type=JSON)
    assert result.status_code == 202
    [(_, args)] = world["sent"]
    compute.run_record(
        submission_id=args[0], owner=args[1], usage=args[2], failure_kind=args[3],
        failure_message=args[4], staged=args[5],
    )  # fmt: skip
    run.refresh_from_db()
    assert run.status == Submission.Status.SCORED, run.failure_message
    assert ComputeQueue.objects.get(name="alice-lab").last_seen_at is not None


@pytest.mark.django_db
def test_an_organizers_token_cannot_take_shared_runs_and_the_platform_token_can(
    world: dict[str, Any],
) -> None:
    run = _queued(world["shared"])
    assert _claim(run, world["alice"][1]).status_code == 403
    assert _claim(run, "").status_code == 403  # the platform sets a host token: send it
    response = _claim(run, PLATFORM)
    assert response.status_code == 200
    lease = response.json()["lease_token"]
    assert _call("post", run, "heartbeat", lease, world["alice"][1]).status_code == 403
    assert _call("post", run, "heartbeat", lease, PLATFORM).status_code == 200


@pytest.mark.django_db
def test_a_revoked_secret_is_refused_at_once_and_a_new_one_works(
    world: dict[str, Any], digits: Competition
) -> None:
    queue_a, secret_a = world["alice"]
    run = _queued(digits)
    lease = _claim(run, secret_a).json()["lease_token"]
    compute_queue_revoke(queue=queue_a)
    response = _call("get", run, "inputs/", lease, secret_a)
    assert response.status_code == 403 and "revoked" in response.json()["detail"]
    beat = {"name": "orghost/1-2", "queues": ["org-alice-lab"], "capacity": {"cpus": 4}}
    url = "/compute/v1/hosts/beat"
    refused = Client().post(
        url, beat, content_type="application/json", HTTP_AUTHORIZATION=f"Host {secret_a}"
    )
    assert refused.status_code == 403
    fresh = compute_queue_issue_secret(queue=queue_a)
    assert fresh != secret_a
    assert _call("get", run, "inputs/", lease, secret_a).status_code == 403
    assert _call("get", run, "inputs/", lease, fresh).status_code == 200
    accepted = Client().post(
        url, beat, content_type="application/json", HTTP_AUTHORIZATION=f"Host {fresh}"
    )
    assert accepted.status_code == 200


@pytest.mark.django_db
def test_a_queue_serves_only_competitions_its_owner_organizes_and_not_another_queues(
    world: dict[str, Any], digits: Competition
) -> None:
    clerk = UserFactory(username="clerk", is_staff=True)  # staff without change_competition
    with pytest.raises(ApplicationError, match="You do not organize"):
        compute_queue_create(owner=clerk, name="clerk-lab", competitions=[world["shared"]])
    carol = _organizer("carol")
    with pytest.raises(ApplicationError, match="served by another compute queue"):
        compute_queue_create(owner=carol, name="carol-lab", competitions=[digits])
    assert not ComputeQueue.objects.filter(name__in=["clerk-lab", "carol-lab"]).exists()
    digits.refresh_from_db()
    assert digits.compute_queue == world["alice"][0]


@pytest.mark.django_db
def test_a_host_beats_only_for_the_queues_its_token_may_serve(world: dict[str, Any]) -> None:
    """A heartbeat naming the scoring queue would hide a missing scoring worker on the
    queue page; one under another host's name would overwrite its line."""
    _, secret_a = world["alice"]
    url = "/compute/v1/hosts/beat"

    def beat(token: str, name: str, queues: list[str]) -> Any:
        payload = {"name": name, "queues": queues, "capacity": {"cpus": 4}}
        return Client().post(
            url, payload, content_type="application/json", HTTP_AUTHORIZATION=f"Host {token}"
        )

    for queues in (["org-alice-lab", "scoring"], ["compute"], ["org-someone-else"]):
        refused = beat(secret_a, "orghost/1-2", queues)
        assert refused.status_code == 403, queues
        assert "serves only org-alice-lab" in refused.json()["detail"]
    assert beat(PLATFORM, "shared/1-2", ["compute", "scoring"]).status_code == 403
    assert beat(PLATFORM, "shared/1-2", ["org-alice-lab"]).status_code == 403
    assert not WorkerHeartbeat.objects.exists()

    assert beat(PLATFORM, "shared/1-2", ["compute", "compute-gpu"]).status_code == 200
    assert beat(secret_a, "orghost/1-2", ["org-alice-lab"]).status_code == 200
    # Another credential under a name already beating: refused, the line is kept.
    assert beat(secret_a, "shared/1-2", ["org-alice-lab"]).status_code == 403
    assert beat(PLATFORM, "orghost/1-2", ["compute"]).status_code == 403
    assert WorkerHeartbeat.objects.get(name="compute:shared/1-2").queues == [
        "compute",
        "compute-gpu",
    ]
