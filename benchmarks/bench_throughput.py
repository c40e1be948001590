"""Runs per hour of trivial images through Podium's split deployment (compute hosts that
hold no secrets) with 1 and 2 compute hosts, against raw `docker run` on the same engines.

One machine plays every part: SQLite and the filesystem broker under a temporary
PODIUM_HOME, gunicorn, a scoring worker, compute workers (one per engine: the local engine
and, for 2 hosts, a second dockerd with its own socket and data root). The image is a
static busybox that copies the sample submission to its predictions (Debian's
busybox-static). Raw: the same image with `docker run --rm --network none` and the same
read-only data mounts, sequentially per engine, engines in parallel.

    .venv/bin/python benchmarks/bench_throughput.py [--runs 20] [--keep]

The clock starts when every worker is ready and the first submission is made, and stops
at the last run's recorded end (``finished_at``), as raw `docker run` is timed from its
first start to its last exit. The compute workers log each run's phases (INFO).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENTRY = ["/bin/busybox", "sh", "-c", "cp /data/sample_submission.csv /output/predictions.csv"]
PREPARE = """
import sys
from pathlib import Path
from django.contrib.auth.models import User
from competitions.bundles import competition_import_bundle
from competitions.models import Competition
from competitions.services.teams import competition_join
comp, _ = competition_import_bundle(bundle_dir=Path(sys.argv[1]))
many = 10**6
Competition.objects.filter(pk=comp.pk).update(daily_submission_limit=many, max_concurrent_runs=many)
comp.refresh_from_db()
competition_join(user=User.objects.create_user(username=f"bench{sys.argv[2]}"), competition=comp)
print("SLUG=" + comp.slug)
"""
SUBMIT = """
import json, sys, time
from django.contrib.auth.models import User
from competitions.models import Competition
from competitions.services.submissions import submission_create
comp = Competition.objects.get(slug=sys.argv[1])
user = User.objects.get(username=f"bench{sys.argv[3]}")
print(f"START={time.time()}")  # the first submission: this process's start-up is no run's
ids = []
for _ in range(int(sys.argv[2])):
    with open(sys.argv[4], "rb") as fh:
        ids.append(submission_create(user=user, competition=comp, image=fh).pk)
print("IDS=" + json.dumps(ids))
"""
COUNT = """
import sys
from django.db.models import Max
from competitions.models import Submission
ids = [int(x) for x in sys.argv[1].split(",")]
runs = Submission.objects.filter(pk__in=ids)
last = runs.aggregate(last=Max("finished_at"))["last"]
print(runs.filter(status__in=["scored", "failed"]).count(), runs.filter(status="failed").count(),
      last.timestamp() if last else 0)
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dockerd(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    url = f"unix://{root}/docker.sock"
    (root / "daemon.json").write_text("{}")
    ns = f"podium-bench-{secrets.token_hex(4)}"
    process = subprocess.Popen(
        ["dockerd", "-H", url, "--config-file", str(root / "daemon.json"),
         "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "docker.pid"), "--bridge=none", "--iptables=false",
         "--ip-masq=false", "--containerd-namespace", ns,
         "--containerd-plugins-namespace", f"{ns}-plugins"],
        stdout=(root / "dockerd.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    for _ in range(300):
        if subprocess.run(["docker", "-H", url, "info"], capture_output=True).returncode == 0:
            return process, url
        time.sleep(0.3)
    raise RuntimeError((root / "dockerd.log").read_text()[-2000:])


def _image_archive(target: Path) -> Path:
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for folder in ("data", "output", "tmp"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
    subprocess.run(
        ["docker", "import", "--change", f"ENTRYPOINT {json.dumps(ENTRY)}", "-",
         "podium-bench/tiny:latest"],
        input=layer.getvalue(), check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(["docker", "save", "-o", str(target), "podium-bench/tiny:latest"], check=True)
    return target


def _raw(urls: list[str], runs: int, data: Path) -> float:
    """Seconds for ``runs`` raw docker runs spread over the engines ``urls``."""
    for url in urls[1:]:
        subprocess.run(["docker", "-H", url, "load", "-q", "-i", str(data / "tiny.tar")],
                       check=True, capture_output=True)  # fmt: skip

    def one_engine(url: str, count: int) -> None:
        for _ in range(count):
            out = Path(tempfile.mkdtemp(dir=data))
            out.chmod(0o777)
            subprocess.run(
                ["docker", "-H", url, "run", "--rm", "--network", "none",
                 "-v", f"{data / 'sample_submission.csv'}:/data/sample_submission.csv:ro",
                 "-v", f"{out}:/output", "podium-bench/tiny:latest"],
                check=True, capture_output=True,
            )  # fmt: skip
            shutil.rmtree(out)

    started = time.monotonic()
    shares = [runs // len(urls) + (i < runs % len(urls)) for i in range(len(urls))]
    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        list(pool.map(one_engine, urls, shares))
    return time.monotonic() - started


def _wait_ready(logs: Path, hosts: int, port: int) -> None:
    """Until the scoring worker, every compute worker and the web server are ready: the
    clock starts at the first submission, as it does for raw `docker run`."""
    names = ["scoring.log", *(f"compute-{n}.log" for n in range(hosts))]
    for _ in range(600):
        ready = all(" ready." in (logs / name).read_text(errors="replace") for name in names)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            if ready:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the workers did not start: see {logs}")


def _podium(urls: list[str], runs: int, home: Path, bundle: Path, archive: Path, tag: str) -> float:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PODIUM"))},
        "DJANGO_SETTINGS_MODULE": "podium.settings", "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40), "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "PODIUM_HOME": str(home), "PODIUM_COMPUTE_REMOTE": "1",
    }  # fmt: skip
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    port = _port()
    logs = home / "bench-logs"
    logs.mkdir(exist_ok=True)
    procs = [
        subprocess.Popen(
            [PY, "-m", "gunicorn", "podium.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3"],
            cwd=ROOT, env=env, stdout=(logs / "web.log").open("wb"), stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [PY, "-m", "celery", "-A", "podium", "worker", "-Q", "scoring", "--concurrency", "2",
             "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=env, stdout=(logs / "scoring.log").open("wb"), stderr=subprocess.STDOUT,
        ),
    ]  # fmt: skip
    for number, url in enumerate(urls):
        compute = {
            "PATH": os.environ["PATH"], "LANG": "C.UTF-8", "DOCKER_HOST": url,
            "CELERY_BROKER_URL": "filesystem://localhost//",
            "PODIUM_COMPUTE_BROKER_DIR": str(home / "broker"),
            "PODIUM_PLATFORM_URL": f"http://127.0.0.1:{port}",
            "PODIUM_COMPUTE_WORK_DIR": str(home / f"compute-{number}"),
            "PODIUM_COMPUTE_NAME": f"host-{number}", "PODIUM_COMPUTE_WAIT_SECONDS": "0.5",
        }  # fmt: skip
        procs.append(subprocess.Popen(
            [PY, "-m", "celery", "-A", "podium_compute.celery", "worker", "--concurrency", "1",
             "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "info",
             "-n", f"bench-{number}@%h"],
            cwd=ROOT, env=compute, stdout=(logs / f"compute-{number}.log").open("wb"),
            stderr=subprocess.STDOUT,
        ))  # fmt: skip
    try:
        # The competition exists before the clock starts, as the image does for raw runs.
        prepared = subprocess.run(
            [PY, "-c", f"import django; django.setup(); exec({PREPARE!r})", str(bundle), tag],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        slug = prepared.stdout.split("SLUG=")[1].strip()
        _wait_ready(logs, len(urls), port)
        setup = subprocess.run(
            [PY, "-c", f"import django; django.setup(); exec({SUBMIT!r})", slug,
             str(runs), tag, str(archive)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        started = float(setup.stdout.split("START=")[1].split()[0])
        ids = ",".join(map(str, json.loads(setup.stdout.split("IDS=")[1])))
        while True:
            done, failed, last = subprocess.run(
                [PY, "-c", f"import django; django.setup(); exec({COUNT!r})", ids],
                cwd=ROOT, env=env, capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            if int(done) == runs:
                if int(failed):
                    raise RuntimeError(f"{failed} runs failed: see {logs}")
                # The last run's recorded end, not when this poll (a process) noticed it.
                return float(last) - started
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the logs and files")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from examples.digits.make_bundle import make_bundle

    work = Path(tempfile.mkdtemp(prefix="pbt-", dir="/tmp"))
    engine_root = work / "e2"
    engine_root.mkdir()
    second, second_url = _dockerd(engine_root)
    try:
        bundle = make_bundle(work / "bundle")
        archive = _image_archive(work / "tiny.tar")
        shutil.copy(bundle / "sample_submission.csv", work / "sample_submission.csv")
        local = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        print(f"{args.runs} runs of a trivial image (runs per hour; ratio = Podium / raw)")
        for hosts in ([local], [local, second_url]):
            raw = _raw(hosts, args.runs, work)
            home = work / f"home-{len(hosts)}"
            podium = _podium(hosts, args.runs, home, bundle, archive, str(len(hosts)))
            raw_rate, podium_rate = 3600 * args.runs / raw, 3600 * args.runs / podium
            print(
                f"{len(hosts)} compute host(s): Podium {podium_rate:8.0f}/h ({podium:.1f} s), "
                f"raw docker run {raw_rate:8.0f}/h ({raw:.1f} s), "
                f"ratio {podium_rate / raw_rate:.2f}"
            )
    finally:
        second.terminate()
        second.wait(timeout=90)
        subprocess.run(["umount", "-R", str(engine_root)], capture_output=True, check=False)
        if args.keep:
            print(f"logs: {work}/home-*/bench-logs")
        else:
            shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["docker", "rmi", "podium-bench/tiny:latest"], capture_output=True)


if __name__ == "__main__":
    main()
