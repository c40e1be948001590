"""Worker faults on the real thing: celery worker processes on the default filesystem
broker, real containers, kill -9 mid-run. Every run ends scored, none runs or is scored
twice, nothing is counted against the team, nothing of the sandbox is left behind."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from processes import process_env
from testimages import session_tag

from competitions.bundles import competition_import_bundle
from competitions.evaluation.pipeline import _instance_label
from competitions.models import Competition, Submission
from competitions.services.submissions import submission_create, submission_quota
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
RUNS = 15
KILLS = 5

# Short leases and waits so the test takes seconds per fault, not minutes.
FAST_RECOVERY = {
    "PODIUM_LEASE_SECONDS": "8",
    "PODIUM_LEASE_RENEW_SECONDS": "1",
    "PODIUM_REQUEUE_AFTER_SECONDS": "5",
    "PODIUM_RETRY_BACKOFF_SECONDS": "1",
    "PODIUM_HOUSEKEEPING_SECONDS": "3",
    "PODIUM_WORKER_HEARTBEAT_SECONDS": "1",
    # Every submission of this test shares one archive: keep it for the others.
    "PODIUM_IMAGE_RETENTION_DAYS": "1",
    # The log is the witness of what ran: nothing may stay in a buffer when -9 arrives.
    "PYTHONUNBUFFERED": "1",
}


class Worker:
    """A `celery -A podium worker -B` process group that the test may kill -9."""

    def __init__(self, log: Path, **env: str) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "podium", "worker", "-B",
             "--schedule", str(log.with_suffix(".beat")), "--concurrency", "2",
             "--loglevel", "INFO", "--without-heartbeat", "--without-mingle",
             "--without-gossip"],
            cwd=ROOT, env=process_env(**FAST_RECOVERY, **env), stdout=self._out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while b"ready." not in log.read_bytes():
            assert self.process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"worker not ready:\n{log.read_text()}"
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._out.close()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self._out.close()


def _untagged_archive(
    engine: docker.DockerClient, script_archive: Callable[[str, str], Path], name: str, script: str
) -> tuple[Path, str]:
    """An archive whose image the engine does not hold under a tag: each run loads it and
    must remove it again (a tagged image is the platform's and is never removed)."""
    archive = script_archive(name, script)
    image = engine.images.get(session_tag(name))
    engine.images.remove(session_tag(name))
    return archive, image.id


def _submissions(competition: Competition, archive: Path, count: int) -> list[Submission]:
    """``count`` queued submissions of one team sharing one stored archive."""
    Competition.objects.filter(pk=competition.pk).update(
        daily_submission_limit=100, max_concurrent_runs=100
    )
    competition.refresh_from_db()
    user = User.objects.create_user(username="hopper")
    competition_join(user=user, competition=competition)
    with archive.open("rb") as fh:
        first = submission_create(user=user, competition=competition, image=fh)
    rows = [Submission.objects.get(pk=first.pk)]
    for _ in range(count - 1):
        first.pk = None
        first.enqueued_at = None
        first.save()
        rows.append(Submission.objects.get(pk=first.pk))
    return rows


def _sandbox_leftovers(engine: docker.DockerClient, slug: str, image_id: str) -> list[str]:
    # This platform instance's containers only: other test sessions on a shared engine
    # run competitions with the same slug.
    labels = [f"podium.competition={slug}", f"podium.instance={_instance_label()}"]
    left = [
        f"container {c.short_id}"
        for c in engine.containers.list(all=True, filters={"label": labels})
    ]
    # Ids only: images.list() inspects each image, which fails when another session on the
    # shared engine removes one of its own images meanwhile.
    if image_id in engine.api.images(all=True, quiet=True):
        left.append(f"image {image_id}")
    work = Path(settings.PODIUM_WORK_DIR)
    left += [f"scratch {p}" for p in (work / "runs").glob("*/podium-run-*")]
    left += [f"scratch {p}" for p in (work / "runs").glob("podium-run-*")]
    left += [f"mount {line}" for line in Path("/proc/self/mountinfo").read_text().splitlines()
             if str(work) in line]  # fmt: skip
    left += [f"ledger {p.name}" for p in (work / "images").glob("*")]
    return left


def _wait_for(condition: Callable[[], bool], what: str, logs: list[Path], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(log.read_text()[-4000:] for log in logs[-2:])
            pytest.fail(f"timed out waiting for {what}:\n{tails}")
        time.sleep(0.3)


def test_killing_the_worker_five_times_loses_and_repeats_nothing(
    transactional_db: None,
    digits_bundle: Path,
    engine: docker.DockerClient,
    script_archive: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    archive, image_id = _untagged_archive(
        engine,
        script_archive,
        "kill-target",
        """
        import time
        import pandas as pd
        print("started", flush=True)
        time.sleep(2)
        test = pd.read_csv("/data/test/test.csv")
        pd.DataFrame({"id": test["id"], "label": 1}).to_csv("/output/predictions.csv", index=False)
        """,
    )
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    submissions = _submissions(competition, archive, RUNS)
    ids = {s.pk for s in submissions}
    logs: list[Path] = []
    running = Submission.objects.filter(pk__in=ids, status=Submission.Status.RUNNING)

    workers: list[Worker] = []
    try:
        for kill in range(KILLS):
            logs.append(tmp_path / f"worker-{kill}.log")
            workers.append(Worker(logs[-1]))
            # Kill while a container runs: the lease is held and the run is half done.
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
        workers.append(Worker(logs[-1]))
        unfinished = Submission.objects.filter(
            pk__in=ids, status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING]
        )
        _wait_for(lambda: not unfinished.exists(), "every run to finish", logs, timeout=600)
        # Housekeeping sweeps what the killed workers left (images marked for removal).
        _wait_for(
            lambda: not _sandbox_leftovers(engine, competition.slug, image_id),
            "the sandbox leftovers to be removed",
            logs,
            timeout=60,
        )
    finally:
        for worker in workers:
            worker.stop()

    text = "".join(log.read_text() for log in logs)
    rows = Submission.objects.filter(pk__in=ids)
    assert sorted(rows.values_list("status", flat=True)) == ["scored"] * RUNS, [
        (s.pk, s.status, s.failure_kind, s.failure_message) for s in rows
    ]
    assert all(s.public_score == rows[0].public_score for s in rows)
    # Killed runs were claimed again: some submission took more than one attempt.
    assert sum(s.attempts for s in rows) > RUNS
    for submission in rows:
        # Scored once, and each attempt claimed once: never two runs of one attempt.
        recorded = re.findall(rf"submission {submission.pk} recorded as scored", text)
        assert len(recorded) == 1, (submission.pk, recorded)
        claims = re.findall(rf"submission {submission.pk} claimed by \S+ \(attempt (\d+)\)", text)
        assert sorted(map(int, claims)) == list(range(1, submission.attempts + 1)), claims
        assert submission.lease_owner == "" and submission.lease_expires_at is None
    assert collections.Counter(rows.values_list("failure_kind", flat=True)) == {"": RUNS}
    # Counted once each (they are the team's real runs), nothing extra for our faults.
    quota = submission_quota(team=submissions[0].team)
    assert quota["used"] == RUNS and quota["running"] == 0
    assert _sandbox_leftovers(engine, competition.slug, image_id) == []


def _container_logs(engine: docker.DockerClient, slug: str) -> bytes:
    out = b""
    for container in engine.containers.list(filters={"label": f"podium.competition={slug}"}):
        try:
            out += container.logs()
        except docker.errors.APIError:  # gone or being removed meanwhile
            continue
    return out


class Engine:
    """A Docker engine of the test's own (own socket, data root, exec root, containerd),
    so that restarting it disturbs no other test; the main engine is never touched."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.url = f"unix://{self.socket}"
        (root / "daemon.json").write_text("{}")
        # containerd accepts [A-Za-z0-9] words joined by . _ or -: no "__" from mkdtemp.
        self.namespace = f"podium-test-{uuid.uuid4().hex[:12]}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            ["dockerd", "-H", self.url, "--config-file", str(self.root / "daemon.json"),
             "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "docker.pid"), "--bridge=none", "--iptables=false",
             "--ip-masq=false", "--containerd-namespace", self.namespace,
             "--containerd-plugins-namespace", f"{self.namespace}-plugins"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 90
        while True:
            try:
                docker.DockerClient(base_url=self.url, timeout=10).ping()
                return
            except Exception:  # noqa: BLE001 - any error means not up yet; death and deadline asserted
                assert self.process.poll() is None, (self.root / "dockerd.log").read_text()
                assert time.monotonic() < deadline, (self.root / "dockerd.log").read_text()
                time.sleep(0.3)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: the engine stops its containers and exits."""
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=60)


@pytest.fixture
def own_engine() -> Iterator[Engine]:
    # A short path: unix socket paths (containerd's included) are limited to 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="pde-", dir="/tmp"))
    engine = Engine(root)
    try:
        engine.start()  # inside the try: an engine that started but never answered is stopped
        yield engine
    finally:
        with contextlib.suppress(Exception):
            for container in engine.client().containers.list(all=True):
                container.remove(force=True)
        if engine.process is not None and engine.process.poll() is None:
            engine.stop()
        subprocess.run(["umount", "-R", str(root)], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_an_engine_restart_during_a_run_is_retried_and_scored(
    transactional_db: None,
    digits_bundle: Path,
    engine: docker.DockerClient,
    own_engine: Engine,
    script_archive: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    archive = script_archive(
        "engine-restart",
        """
        import time
        import pandas as pd
        print("started", flush=True)
        time.sleep(8)
        test = pd.read_csv("/data/test/test.csv")
        pd.DataFrame({"id": test["id"], "label": 1}).to_csv("/output/predictions.csv", index=False)
        """,
    )
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    (submission,) = _submissions(competition, archive, 1)
    own = own_engine.client()
    log = tmp_path / "worker.log"
    worker = Worker(log, DOCKER_HOST=own_engine.url)
    try:
        _wait_for(
            lambda: b"started" in _container_logs(own, competition.slug),
            "the run's container",
            [log],
            timeout=180,
        )
        own_engine.stop()
        own_engine.start()
        finished = Submission.objects.filter(pk=submission.pk, status=Submission.Status.SCORED)
        _wait_for(finished.exists, "the retried run to be scored", [log], timeout=300)
        image_id = engine.images.get(session_tag("engine-restart")).id
        _wait_for(
            lambda: not _sandbox_leftovers(own, competition.slug, image_id),
            "the sandbox leftovers to be removed",
            [log],
            timeout=60,
        )
    finally:
        worker.stop()

    submission.refresh_from_db()
    # Interrupted once; a retry that found the engine still down is retried again.
    assert submission.attempts >= 2, log.read_text()[-5000:]
    # Which the worker meets first depends on the machine's load: the engine's kill event
    # ("interrupted by the platform") or its socket going away ("Lost the Docker engine").
    # Both are the platform's fault, retried, never the participant's.
    assert re.search(
        rf"submission {submission.pk}: The Docker engine failed: "
        r"(The run was interrupted by the platform|Lost the Docker engine)",
        log.read_text(),
    ), log.read_text()[-5000:]
    assert submission.failure_kind == "" and submission.exit_code == 0
    assert submission_quota(team=submission.team)["used"] == 1
    assert _sandbox_leftovers(own, competition.slug, image_id) == []
    assert own.containers.list(all=True) == []
