"""The split deployment on real engines: PostgreSQL and Redis (Debian's, on loopback), the
platform under gunicorn, a scoring worker with the reaper, a second Docker engine with its
own socket, data root, exec root and pidfile, and two compute hosts (one per engine) with
different capacities. Ten submissions of two sizes are spread over the hosts by capacity
and all scored with the scores one machine gives; one compute host is killed (SIGKILL)
mid-run and its run finishes on the other. Prints runs per host and submit-to-scored times.

The submission image is a static busybox (Debian's busybox-static) imported as a one-layer
image: a few hundred kilobytes, so ten runs stay cheap."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import docker
import pandas as pd
import psycopg
import pytest
import yaml
from computehosts import ROOT, Proc, compute_env, compute_worker, free_port, tiny_archive
from servers import PostgresServer, RedisServer
from test_fault_recovery import Engine

pytestmark = [pytest.mark.cluster, pytest.mark.docker, pytest.mark.servers]

SCRIPT = "sleep 4; cp /data/sample_submission.csv /output/predictions.csv"
# Small runs fit both hosts; big runs (768 MB) only host A.
SIZES = {"small": {"cpus": 0.5, "memory": "256m"}, "big": {"cpus": 1, "memory": "768m"}}
HOSTS = {"host-a": {"cpus": "2", "memory": "1g"}, "host-b": {"cpus": "1", "memory": "512m"}}
SETUP = """
import json, sys
from pathlib import Path
from django.contrib.auth.models import User
from competitions.bundles import competition_import_bundle
from competitions.models import Competition
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join
bundles, archive = json.loads(sys.argv[1]), sys.argv[2]
comps = {}
for size, path in bundles.items():
    comp, _ = competition_import_bundle(bundle_dir=Path(path))
    Competition.objects.filter(pk=comp.pk).update(daily_submission_limit=50, max_concurrent_runs=50)
    comps[size] = comp
ids = {}
for i in range(10):
    size = "big" if i % 3 == 0 else "small"
    user = User.objects.create_user(username=f"team{i}")
    comp = Competition.objects.get(pk=comps[size].pk)
    competition_join(user=user, competition=comp)
    with open(archive, "rb") as fh:
        ids[submission_create(user=user, competition=comp, image=fh).pk] = size
print("IDS=" + json.dumps(ids))
"""


def _bundle(source: Path, target: Path, size: str) -> Path:
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    spec = yaml.safe_load((target / "competition.yaml").read_text())
    spec["slug"] = f"digits-{size}"
    spec["limits"].update(SIZES[size])
    (target / "competition.yaml").write_text(yaml.safe_dump(spec))
    return target


@pytest.fixture
def second_engine() -> Iterator[Engine]:
    root = Path(f"/tmp/pdc-{secrets.token_hex(4)}")  # short: unix socket paths <= 108 bytes
    root.mkdir()
    engine = Engine(root)
    try:
        engine.start()
        yield engine
    finally:
        with contextlib.suppress(Exception):
            for container in engine.client().containers.list(all=True):
                container.remove(force=True)
        if engine.process is not None and engine.process.poll() is None:
            engine.stop()
        subprocess.run(["umount", "-R", str(root)], capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def _start(args: list[str], env: dict[str, str], log: Path, ready: bytes | None) -> Proc:
    out = log.open("wb")
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 90
    while ready is not None and ready not in log.read_bytes():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return Proc(process, log)


def test_ten_runs_spread_over_two_compute_hosts_survive_one_being_killed(  # noqa: C901 - one scenario, step by step: start, submit, kill, recover, compare
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    second_engine: Engine,
    engine: docker.DockerClient,
    digits_bundle: Path,
    tmp_path: Path,
) -> None:
    database = f"cluster_{secrets.token_hex(4)}"
    with psycopg.connect(
        postgres_server.url.rsplit("/", 1)[0] + "/postgres", autocommit=True
    ) as db:
        db.execute(f"CREATE DATABASE {database}")
    db_url = postgres_server.url.rsplit("/", 1)[0] + f"/{database}"
    broker = redis_server.url.rsplit("/", 1)[0] + "/3"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    platform = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PODIUM"))},
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "PODIUM_HOME": str(tmp_path / "home"),
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": broker,
        "PODIUM_CACHE_URL": "locmem://",
        "PODIUM_COMPUTE_REMOTE": "1",
        "PODIUM_LEASE_SECONDS": "8",
        "PODIUM_LEASE_RENEW_SECONDS": "1",
        "PODIUM_HOUSEKEEPING_SECONDS": "2",
        "PODIUM_RETRY_BACKOFF_SECONDS": "1",
        # A killed host takes the deliveries it had reserved with it (Redis gives them back
        # only after its visibility timeout): the reaper sends them again after this.
        "PODIUM_REQUEUE_AFTER_SECONDS": "15",
    }
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=platform, check=True)
    archive = tiny_archive(engine, tmp_path / "tiny.tar", SCRIPT)
    bundles = {s: str(_bundle(digits_bundle, tmp_path / s, s)) for s in SIZES}

    procs: list[Proc] = []
    try:
        procs.append(
            _start(
                [
                    py,
                    "-m",
                    "gunicorn",
                    "podium.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "3",
                    "--timeout",
                    "120",
                ],
                platform,
                tmp_path / "web.log",
                b"Booting worker",
            )
        )
        procs.append(
            _start(
                [
                    py,
                    "-m",
                    "celery",
                    "-A",
                    "podium",
                    "worker",
                    "-B",
                    "-Q",
                    "scoring,default",
                    "--concurrency",
                    "1",
                    "-s",
                    str(tmp_path / "beat"),
                    "--loglevel",
                    "INFO",
                    "--without-heartbeat",
                    "--without-mingle",
                    "--without-gossip",
                ],
                platform,
                tmp_path / "scoring.log",
                b"ready.",
            )
        )
        hosts: dict[str, Proc] = {}

        def start_host(name: str) -> None:
            capacity = HOSTS[name]
            env = compute_env(
                url, tmp_path / name, CELERY_BROKER_URL=broker, PODIUM_COMPUTE_NAME=name,
                PODIUM_COMPUTE_CPUS=capacity["cpus"], PODIUM_COMPUTE_MEMORY=capacity["memory"],
                PODIUM_COMPUTE_WAIT_SECONDS="1",
            )  # fmt: skip
            if name == "host-b":
                env["DOCKER_HOST"] = second_engine.url
            hosts[name] = compute_worker(tmp_path / f"{name}.log", env, 2)
            procs.append(hosts[name])

        # Host B alone first: it takes the small runs; the big ones wait in the queue
        # (they never fit B) instead of failing.
        start_host("host-b")
        setup = subprocess.run(
            [py, "-c", f"import django; django.setup(); import sys; exec({SETUP!r})",
             json.dumps(bundles), str(archive)],
            cwd=ROOT, env=platform, capture_output=True, text=True,
        )  # fmt: skip
        assert setup.returncode == 0, setup.stderr
        ids = {int(k): v for k, v in json.loads(setup.stdout.split("IDS=")[1]).items()}

        def rows() -> dict[int, tuple]:
            with psycopg.connect(db_url) as db:
                found = db.execute(
                    "SELECT id, status, worker, attempts, public_score, private_score,"
                    " EXTRACT(EPOCH FROM finished_at - created_at), failure_message, lease_owner"
                    " FROM competitions_submission"
                ).fetchall()
            return {row[0]: row[1:] for row in found}

        def logs() -> str:
            return "\n".join(f"--- {p.log.name}\n{p.log.read_text()[-8000:]}" for p in procs)

        def on_b(status: str) -> list[int]:
            """Runs of B in ``status``; running ones only while B holds them (a run whose
            outcome B posted is the scoring task's)."""
            return [
                pk
                for pk, r in rows().items()
                if r[0] == status
                and r[1] == "host-b"
                and (status != "running" or r[7].startswith("host-b/"))
            ]

        # Once B has scored a run and runs another, host A starts and B is killed: its run
        # finishes on A, and so do the big runs that waited.
        deadline = time.monotonic() + 180
        while not (on_b("scored") and on_b("running")):
            assert time.monotonic() < deadline, f"host B never ran two runs:\n{logs()}"
            time.sleep(0.3)
        hosts["host-b"].kill()
        killed = on_b("running")
        assert killed, "host B finished its run just before the kill: nothing to recover"
        start_host("host-a")
        deadline = time.monotonic() + 180
        now = rows()
        while any(r[0] in ("queued", "running") for r in now.values()):
            if time.monotonic() > deadline:
                (tmp_path.parent / "cluster-failure.txt").write_text(f"{now}\n{logs()}")
            assert time.monotonic() < deadline, f"{now}\n{logs()}"
            time.sleep(1)
            now = rows()
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(Exception):
                proc.stop()

    expected = {}
    for size, path in bundles.items():
        # The stored solution: its Usage column holds the split the platform fixed.
        media = tmp_path / "home" / "media" / "competitions" / f"digits-{size}"
        [stored] = media.glob("solution/*/solution.csv")
        solution = pd.read_csv(stored)
        merged = solution.merge(pd.read_csv(Path(path) / "sample_submission.csv"), on="id",
                                suffixes=("", "_predicted"))  # fmt: skip
        expected[size] = tuple(
            float((part["label"] == part["label_predicted"]).mean())
            for part in (merged[merged["Usage"] == u] for u in ("Public", "Private"))
        )
    for pk, size in ids.items():
        status, worker, _, public, private, _, message, _ = now[pk]
        assert status == "scored", (pk, message)
        assert (public, private) == pytest.approx(expected[size]), pk
        if size == "big":
            assert worker == "host-a", pk  # 768 MB never fits host B's 512 MB
    for pk in killed:
        assert now[pk][1] == "host-a" and now[pk][2] >= 2, (pk, now[pk])
    per_host = Counter(now[pk][1] for pk in ids)
    assert per_host["host-b"] >= 1 and per_host["host-a"] >= 1, per_host
    claims = {name: (tmp_path / f"{name}.log").read_text().count(" claimed") for name in HOSTS}
    times = sorted(float(now[pk][5]) for pk in ids)
    print(
        f"\ncluster: scored runs per host {dict(per_host)}, claims per host {claims}; host B "
        f"killed during {killed}; submit-to-scored seconds min {times[0]:.1f}, median "
        f"{times[len(times) // 2]:.1f}, max {times[-1]:.1f}"
    )
