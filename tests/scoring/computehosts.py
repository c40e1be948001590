"""Start the processes of a split deployment for tests: the platform under gunicorn and
compute workers (``podium_compute``) with an environment that holds no platform secret."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from django.conf import settings
from processes import process_env

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def tree(self) -> list[int]:
        """The main process and every descendant still alive."""
        pids, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
        return pids


def platform_server(log: Path, **env: str) -> tuple[str, Proc]:
    """gunicorn on 127.0.0.1 under the production configuration, remote compute on."""
    port = free_port()
    out = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "podium.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--timeout", "120"],
        cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        env=process_env(
            DJANGO_DEBUG="0", DJANGO_SECRET_KEY=settings.SECRET_KEY,
            DJANGO_ALLOWED_HOSTS="127.0.0.1", PODIUM_COMPUTE_REMOTE="1", **env,
        ),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"server not up:\n{log.read_text()}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            break
        time.sleep(0.2)
    return f"http://127.0.0.1:{port}", Proc(process, log)


def compute_env(platform_url: str, work_dir: Path, **extra: str) -> dict[str, str]:
    """All a compute worker is given: no DATABASE_URL, no secret key, no PODIUM_HOME."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(work_dir),
        "CELERY_BROKER_URL": "filesystem://localhost//",
        "PODIUM_COMPUTE_BROKER_DIR": str(Path(settings.PODIUM_HOME) / "broker"),
        "PODIUM_PLATFORM_URL": platform_url,
        "PODIUM_COMPUTE_WORK_DIR": str(work_dir),
        **extra,
    }
    if os.environ.get("DOCKER_HOST"):
        env.setdefault("DOCKER_HOST", os.environ["DOCKER_HOST"])
    return env


def compute_worker(log: Path, env: dict[str, str], concurrency: int = 1) -> Proc:
    """`celery -A podium_compute.celery worker` with exactly ``env``; waits until ready."""
    out = log.open("wb")
    queues = env.get("PODIUM_COMPUTE_QUEUES", "compute")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "podium_compute.celery", "worker", "-Q", queues,
         "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-heartbeat",
         "--without-mingle", "--without-gossip", "-n", f"compute-{log.stem}@%h"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while b"ready." not in log.read_bytes():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"compute worker not ready:\n{log.read_text()}"
        time.sleep(0.2)
    return Proc(process, log)


def tiny_archive(engine: docker.DockerClient, target: Path, script: str) -> Path:
    """``docker save`` of a one-layer image: Debian's static busybox running ``script``
    (a few hundred kilobytes, where an image FROM the base image weighs 570 MB)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for folder in ("data", "output", "tmp"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
    tag = f"podium-test/tiny-{hashlib.sha256(script.encode()).hexdigest()[:12]}"
    entry = json.dumps(["/bin/busybox", "sh", "-c", script])
    engine.api.import_image_from_data(
        layer.getvalue(), repository=tag, tag="latest", changes=[f"ENTRYPOINT {entry}"]
    )
    with target.open("wb") as out:
        for chunk in engine.images.get(f"{tag}:latest").save(named=True):
            out.write(chunk)
    return target
