"""Worker faults with an AMQP broker (Debian's rabbitmq-server, tests/servers.py): real
celery worker processes started with CELERY_BROKER_URL=amqp://..., acks_late, kill -9 mid-run.
RabbitMQ hands a dead worker's unacknowledged messages out again at once; with the leases'
recovery on top, every run must still end scored exactly once, nothing counted against the
team, nothing left behind. (The reaper cannot look into an AMQP queue: it relies on time.)"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from celery import current_app
from django.conf import settings as django_settings
from servers import RabbitMqServer
from test_fault_recovery import Worker, _container_logs, _submissions, _untagged_archive, _wait_for
from test_fault_recovery_redis import (
    _assert_scored_once,
    _drop_connections,
    _sandbox_leftovers,
    script,
)

from competitions.bundles import competition_import_bundle
from competitions.models import Submission

pytestmark = [
    pytest.mark.docker,
    pytest.mark.e2e,
    pytest.mark.servers,
    # once: a RabbitMQ deployment's database is PostgreSQL (run on that side only).
    pytest.mark.once,
    # Opt-in: `./podiumctl test` does not install Erlang and RabbitMQ (CI time); the test
    # runs wherever Debian's rabbitmq-server is installed.
    pytest.mark.skipif(
        shutil.which("rabbitmq-server") is None
        and not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists(),
        reason="rabbitmq-server is not installed (apt-get install rabbitmq-server)",
    ),
]
RUNS = 8
KILLS = 3


@pytest.fixture
def amqp_broker(settings: object) -> Iterator[RabbitMqServer]:
    """A rabbitmq-server of this test; this process (which enqueues) sends to it."""
    with RabbitMqServer(Path(django_settings.PODIUM_HOME) / "var") as server:
        saved = (current_app.conf.broker_url, current_app.conf.broker_transport_options)
        settings.CELERY_BROKER_URL = server.url  # type: ignore[attr-defined]
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}  # type: ignore[attr-defined]
        current_app.conf.broker_url = server.url
        current_app.conf.broker_transport_options = {}
        _drop_connections()
        try:
            yield server
        finally:
            current_app.conf.broker_url, current_app.conf.broker_transport_options = saved
            _drop_connections()


def test_killing_the_worker_on_rabbitmq_loses_and_repeats_nothing(
    transactional_db: None,
    digits_bundle: Path,
    engine: docker.DockerClient,
    script_archive: Callable[[str, str], Path],
    amqp_broker: RabbitMqServer,
    tmp_path: Path,
) -> None:
    archive, image_id = _untagged_archive(engine, script_archive, "kill-amqp", script("kill-amqp"))
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    submissions = _submissions(competition, archive, RUNS)
    ids = {s.pk for s in submissions}
    running = Submission.objects.filter(pk__in=ids, status=Submission.Status.RUNNING)
    env = {"CELERY_BROKER_URL": amqp_broker.url}
    logs: list[Path] = []
    workers: list[Worker] = []
    try:
        for kill in range(KILLS):
            logs.append(tmp_path / f"worker-{kill}.log")
            workers.append(Worker(logs[-1], **env))
            _wait_for(
                lambda: (
                    running.exists() and b"started" in _container_logs(engine, competition.slug)
                ),
                "a running container",
                logs,
                timeout=180,
            )
            workers[-1].kill()
        logs.append(tmp_path / "worker-final.log")
        workers.append(Worker(logs[-1], **env))
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
    finally:
        for worker in workers:
            worker.stop()

    _assert_scored_once(ids, logs, RUNS)
    assert sum(s.attempts for s in Submission.objects.filter(pk__in=ids)) > RUNS
    text = "".join(log.read_text() for log in logs)
    skipped = len(re.findall(r"is not queued; nothing to do", text))
    again = re.findall(r"enqueued again \[([\d, ]*)\]", text)
    print(f"rabbitmq: deliveries skipped by the claim guard {skipped}, re-enqueue rounds {again}")
    assert _sandbox_leftovers(engine, competition.slug, image_id) == []
