"""Worker and broker faults with the Redis broker: real celery worker processes started with
CELERY_BROKER_URL=redis://... (as `./podiumctl up` would be), acks_late and the visibility
timeout that podium/settings.py configures, a real redis-server (tests/servers.py), real
containers. kill -9 the worker mid-run, kill -9 redis-server and start it empty again: every
run ends scored exactly once, nothing is counted against the team, nothing is left behind,
and the periodic re-enqueue of waiting runs never piles duplicates up in the queue."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import json
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from celery import current_app
from django.conf import settings as django_settings
from django.utils import timezone
from factories import SubmissionFactory
from servers import RedisServer, free_port
from test_fault_recovery import (
    Worker,
    _container_logs,
    _submissions,
    _untagged_archive,
    _wait_for,
)
from test_fault_recovery import (
    _sandbox_leftovers as _all_leftovers,
)

from competitions.bundles import competition_import_bundle
from competitions.evaluation import queue, recovery
from competitions.evaluation.pipeline import _instance_label
from competitions.models import Submission
from competitions.services.submissions import submission_quota

# once: a Redis deployment's database is PostgreSQL (run on that side only).
pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.servers, pytest.mark.once]
RUNS = 6
KILLS = 2
# Short, so that the messages a killed worker held come back within the test (and a live
# run's message is handed out a second time while it runs: the claim guard must skip it).
VISIBILITY_TIMEOUT = "15"

# Each test's image must be its own: an image built from the same Dockerfile and script
# elsewhere (test_fault_recovery.py, another session on the shared engine) has the same id,
# and its loads would read as this test's leftovers. script(name) adds the test's name.
SCRIPT = """
import time
import pandas as pd
print("started", flush=True)
time.sleep(2)
test = pd.read_csv("/data/test/test.csv")
pd.DataFrame({"id": test["id"], "label": 1}).to_csv("/output/predictions.csv", index=False)
"""


def script(name: str) -> str:
    return f"{SCRIPT}# {name}: {__name__}\n"


@pytest.fixture
def redis_broker(redis_server: RedisServer, settings: object) -> Iterator[RedisServer]:
    """This process (which enqueues and reaps) on the session's redis-server, emptied, with
    the transport options podium/settings.py derives from a redis:// CELERY_BROKER_URL."""
    redis_server.command("FLUSHALL")
    options = {"visibility_timeout": float(VISIBILITY_TIMEOUT)}
    saved = (current_app.conf.broker_url, current_app.conf.broker_transport_options)
    settings.CELERY_BROKER_URL = redis_server.url  # type: ignore[attr-defined]
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options  # type: ignore[attr-defined]
    current_app.conf.broker_url = redis_server.url
    current_app.conf.broker_transport_options = options
    _drop_connections()
    try:
        yield redis_server
    finally:
        current_app.conf.broker_url, current_app.conf.broker_transport_options = saved
        _drop_connections()


def _drop_connections() -> None:
    """Forget the app's broker connections (as Celery does after a fork): the next
    message goes to the broker the configuration names now. (kombu keeps one pool per
    broker for the process: closing one would break its next user.)"""
    current_app._pool = None
    current_app.amqp._producer_pool = None


def _worker_env(redis: RedisServer) -> dict[str, str]:
    return {
        "CELERY_BROKER_URL": redis.url,
        "PODIUM_BROKER_VISIBILITY_TIMEOUT": VISIBILITY_TIMEOUT,
    }


def _sandbox_leftovers(engine: docker.DockerClient, slug: str, image_id: str) -> list[str]:
    """What the runs of this test left behind: containers of this platform instance only
    (other sessions on the shared engine run competitions of the same slug)."""
    ours = {
        c.short_id
        for c in engine.containers.list(
            all=True, filters={"label": f"podium.instance={_instance_label()}"}
        )
    }
    return [
        item
        for item in _all_leftovers(engine, slug, image_id)
        if not item.startswith("container ") or item.split()[1] in ours
    ]


def _queued_messages(redis: RedisServer) -> collections.Counter[int]:
    """Deliveries of scoring.evaluate_submission waiting in the scoring list, per submission."""
    counts: collections.Counter[int] = collections.Counter()
    raw = redis.command("LRANGE", "scoring", "0", "-1")
    for line in raw.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if (message.get("headers") or {}).get("task") == queue.EVALUATE_TASK:
            counts[json.loads(base64.b64decode(message["body"]))[0][0]] += 1
    return counts


class QueueWatch(threading.Thread):
    """Sample the scoring list every 0.2 s; keep the most messages seen per submission."""

    def __init__(self, redis: RedisServer) -> None:
        super().__init__(daemon=True)
        self.redis = redis
        self.most: collections.Counter[int] = collections.Counter()
        self.longest = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            try:
                counts = _queued_messages(self.redis)
            except (subprocess.SubprocessError, OSError):  # redis-server being restarted
                continue
            self.longest = max(self.longest, sum(counts.values()))
            for pk, count in counts.items():
                self.most[pk] = max(self.most[pk], count)


def _assert_scored_once(ids: set[int], logs: list[Path], runs: int) -> None:
    text = "".join(log.read_text() for log in logs)
    rows = Submission.objects.filter(pk__in=ids)
    assert sorted(rows.values_list("status", flat=True)) == ["scored"] * runs, [
        (s.pk, s.status, s.failure_kind, s.failure_message) for s in rows
    ]
    assert len({s.public_score for s in rows}) == 1
    for submission in rows:
        recorded = re.findall(rf"submission {submission.pk} recorded as scored", text)
        assert len(recorded) == 1, (submission.pk, recorded)
        claims = re.findall(rf"submission {submission.pk} claimed by \S+ \(attempt (\d+)\)", text)
        assert sorted(map(int, claims)) == list(range(1, submission.attempts + 1)), claims
        assert submission.lease_owner == "" and submission.lease_expires_at is None
    assert collections.Counter(rows.values_list("failure_kind", flat=True)) == {"": runs}
    quota = submission_quota(team=rows[0].team)
    assert quota["used"] == runs and quota["running"] == 0


def test_waiting_runs_are_enqueued_again_only_when_no_message_waits_in_redis(
    db: None, redis_broker: RedisServer
) -> None:
    long_ago = timezone.now() - dt.timedelta(
        seconds=django_settings.PODIUM_REQUEUE_AFTER_SECONDS + 5
    )
    queued = {"status": Submission.Status.QUEUED, "public_score": None, "private_score": None}
    lost = SubmissionFactory(**queued, enqueued_at=long_ago)
    waiting = SubmissionFactory(**queued)
    queue.enqueue(waiting.pk)
    Submission.objects.filter(pk=waiting.pk).update(enqueued_at=long_ago)
    # Another task's message in the same list is not a delivery of a run.
    current_app.send_task("scoring.housekeeping", queue="scoring")

    assert queue.pending_deliveries() == {waiting.pk}
    assert recovery.runs_recover().redelivered == [lost.pk]
    assert _queued_messages(redis_broker) == {lost.pk: 1, waiting.pk: 1}
    # Overdue again and again (a long queue): still one message each, nothing piles up.
    for _ in range(3):
        Submission.objects.filter(pk__in=[lost.pk, waiting.pk]).update(enqueued_at=long_ago)
        assert recovery.runs_recover().redelivered == []
    assert _queued_messages(redis_broker) == {lost.pk: 1, waiting.pk: 1}
    # A worker took (and lost) the message: the run is enqueued again.
    redis_broker.command("DEL", "scoring")
    assert recovery.runs_recover().redelivered == [lost.pk, waiting.pk]


def test_an_unreachable_redis_is_unknown_not_empty(db: None, redis_broker: RedisServer) -> None:
    retries = current_app.conf.broker_connection_max_retries
    current_app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    current_app.conf.broker_connection_max_retries = 1
    _drop_connections()
    try:
        assert queue.pending_deliveries() is None
    finally:
        current_app.conf.broker_connection_max_retries = retries


def test_killing_the_worker_on_redis_loses_repeats_and_piles_up_nothing(
    transactional_db: None,
    digits_bundle: Path,
    engine: docker.DockerClient,
    script_archive: Callable[[str, str], Path],
    redis_broker: RedisServer,
    tmp_path: Path,
) -> None:
    archive, image_id = _untagged_archive(
        engine, script_archive, "kill-redis", script("kill-redis")
    )
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    watch = QueueWatch(redis_broker)
    watch.start()
    submissions = _submissions(competition, archive, RUNS)
    ids = {s.pk for s in submissions}
    running = Submission.objects.filter(pk__in=ids, status=Submission.Status.RUNNING)
    logs: list[Path] = []
    workers: list[Worker] = []
    held: dict[str, int] = {}  # the killed workers' unacknowledged deliveries: tag -> run
    try:
        for kill in range(KILLS):
            logs.append(tmp_path / f"worker-{kill}.log")
            workers.append(Worker(logs[-1], **_worker_env(redis_broker)))
            _wait_for(
                lambda: (
                    running.exists() and b"started" in _container_logs(engine, competition.slug)
                ),
                "a running container",
                logs,
                timeout=180,
            )
            workers[-1].kill()
            held.update(_unacked_deliveries(redis_broker))
        logs.append(tmp_path / "worker-final.log")
        workers.append(Worker(logs[-1], **_worker_env(redis_broker)))
        unfinished = Submission.objects.filter(
            pk__in=ids, status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING]
        )
        _wait_for(lambda: not unfinished.exists(), "every run to finish", logs, timeout=600)
        _wait_for(
            lambda: not _sandbox_leftovers(engine, competition.slug, image_id),
            "the sandbox leftovers to be removed",
            logs,
            timeout=60,
        )
        # The killed workers' unacknowledged messages come back after the visibility
        # timeout and are skipped: wait for the queue to drain of them.
        _wait_for(
            lambda: not _queued_messages(redis_broker) and not _unacked(redis_broker),
            "the broker to hold no delivery",
            logs,
            timeout=120,
        )
    finally:
        watch.stopped.set()
        for worker in workers:
            worker.stop()

    _assert_scored_once(ids, logs, RUNS)
    assert sum(s.attempts for s in Submission.objects.filter(pk__in=ids)) > RUNS
    # The periodic re-enqueue of waiting runs (every 5 s here) sends a delivery only where
    # none waits in the list: once for each copy made without a message (RUNS - 1), once
    # for each delivery a killed worker held, and at most once per worker for a message it
    # had reserved behind a busy pool. Without the check, each waiting run was sent again
    # every period (4 copies of every run in the list at once).
    text = "".join(log.read_text() for log in logs)
    again = [
        int(pk)
        for found in re.findall(r"enqueued again \[([\d, ]*)\]", text)
        for pk in found.split(",")
        if pk.strip()
    ]
    print(
        f"redis: longest scoring list {watch.longest}, most of one run {max(watch.most.values())}"
        f", enqueued again {len(again)}, deliveries held by killed workers {len(held)}"
    )
    assert watch.longest > 0
    assert len(again) <= (RUNS - 1) + len(held) + len(workers), (again, held)
    assert _sandbox_leftovers(engine, competition.slug, image_id) == []


def _unacked(redis: RedisServer) -> int:
    return int(redis.command("HLEN", "unacked").strip() or 0)


def _unacked_deliveries(redis: RedisServer) -> dict[str, int]:
    """Delivery tag -> submission id of the messages taken and not acknowledged."""
    lines = redis.command("HGETALL", "unacked").splitlines()
    found = {}
    for tag, value in zip(lines[::2], lines[1::2], strict=True):
        message = json.loads(value)[0]
        if (message.get("headers") or {}).get("task") == queue.EVALUATE_TASK:
            found[tag.decode()] = json.loads(base64.b64decode(message["body"]))[0][0]
    return found


def test_a_redis_crash_and_restart_loses_no_run(
    transactional_db: None,
    digits_bundle: Path,
    engine: docker.DockerClient,
    script_archive: Callable[[str, str], Path],
    redis_broker: RedisServer,
    tmp_path: Path,
) -> None:
    archive, image_id = _untagged_archive(
        engine, script_archive, "redis-crash", script("redis-crash")
    )
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    submissions = _submissions(competition, archive, 4)
    ids = {s.pk for s in submissions}
    log = tmp_path / "worker.log"
    worker = Worker(log, **_worker_env(redis_broker))
    try:
        _wait_for(
            lambda: b"started" in _container_logs(engine, competition.slug),
            "a running container",
            [log],
            timeout=180,
        )
        # Every message the broker held (waiting, reserved, unacknowledged) is gone.
        redis_broker.kill()
        redis_broker.start()
        unfinished = Submission.objects.filter(
            pk__in=ids, status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING]
        )
        _wait_for(lambda: not unfinished.exists(), "every run to finish", [log], timeout=300)
        _wait_for(
            lambda: not _sandbox_leftovers(engine, competition.slug, image_id),
            "the sandbox leftovers to be removed",
            [log],
            timeout=60,
        )
    finally:
        worker.stop()
    _assert_scored_once(ids, [log], 4)
    assert _sandbox_leftovers(engine, competition.slug, image_id) == []
