"""The platform's own image (docker/build-platform-image.sh), run as an operator runs it.

One test, for CI time: the image is built once per source tree (cached by tag and source
hash; `./podiumctl test` starts the build in the background). The web role runs against
SQLite with DEBUG off and serves a page and a compressed static file; `check --deploy`
finds nothing but the two HSTS choices left to the operator; the compute role explains
its variables, names a missing one, refuses a private PID namespace and starts with the
platform's secrets stripped from its environment.

The engine here runs with `--bridge=none`: containers get no network or the host's. The
web container uses the host's network, bound to 127.0.0.1 only; the compute container
uses the host's network for nothing (its broker is a folder) but needs the host's PID
namespace.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests
from docker.models.containers import Container

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "podium/platform:test"
LABEL = {"podium.test": "platform-image"}
START_DEADLINE_SECONDS = 180.0

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    """The engine, with the image built (or found up to date) by the operator's script."""
    build = subprocess.run(
        [str(ROOT / "docker" / "build-platform-image.sh"), IMAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, f"building {IMAGE} failed:\n{build.stderr[-3000:]}"
    client = docker.from_env()
    yield client
    client.close()


def _run(engine: docker.DockerClient, *command: str, **options: object) -> tuple[int, str]:
    """Run the image to completion without a network; return its exit status and output."""
    container = engine.containers.run(
        IMAGE, list(command), detach=True, network_mode="none", labels=LABEL, **options
    )
    try:
        status = container.wait(timeout=300)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def _wait_for(what: str, container: Container, ready: object) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.5)
    logs = container.logs().decode(errors="replace")[-3000:]
    pytest.fail(f"{what} did not come up (status {container.status}):\n{logs}")


def _page(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=5, allow_redirects=False)
    except requests.RequestException:
        return None


def _check_web_role(engine: docker.DockerClient, secret_key: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = engine.containers.run(
        IMAGE,
        ["web"],
        detach=True,
        name=f"podium-test-web-{uuid.uuid4().hex[:8]}",
        network_mode="host",
        labels=LABEL,
        environment={
            "PODIUM_BIND": f"127.0.0.1:{port}",
            "DJANGO_SECRET_KEY": secret_key,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        },
    )
    try:
        _wait_for("the web role", web, lambda: _page(base + "/") is not None)
        home = requests.get(base + "/", timeout=10)
        assert home.status_code == 200
        assert "<title>" in home.text and "Competitions" in home.text
        stylesheet = re.search(r'href="(/static/[^"]+\.css)"', home.text)
        assert stylesheet, "the page links no stylesheet"
        static = requests.get(
            base + stylesheet.group(1), headers={"Accept-Encoding": "gzip"}, timeout=10
        )
        assert static.status_code == 200
        assert static.headers["Content-Type"].startswith("text/css")
        # Compressed when the image was built (whitenoise serves the .gz beside the file).
        assert static.headers.get("Content-Encoding") == "gzip"
        assert static.text == (ROOT / "static" / stylesheet.group(1)[len("/static/") :]).read_text()
        # DEBUG is off: no debug page, and the admin asks an anonymous visitor to log in.
        missing = requests.get(base + "/no-such-page/", timeout=10)
        assert missing.status_code == 404 and "DEBUG = True" not in missing.text
        admin = requests.get(base + "/admin/", timeout=10, allow_redirects=False)
        assert admin.status_code == 302 and "/admin/login/" in admin.headers["Location"]
        # The server runs as the image's own user, its database in PODIUM_HOME.
        code, output = web.exec_run(["sh", "-c", "id -u; ls /srv/podium/db.sqlite3"])
        assert code == 0 and output.decode().split() == ["10001", "/srv/podium/db.sqlite3"]
    finally:
        web.remove(force=True)


def _celery_environ(container: Container) -> dict[str, str]:
    """The environment of the Celery worker's main process (read through the host's /proc)."""
    processes = container.top(ps_args="-eo pid,args")["Processes"]
    pid = next(int(p[0]) for p in processes if "celery" in p[1] and "worker" in p[1])
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _check_compute_role(engine: docker.DockerClient, tmp_path: Path, secret_key: str) -> None:
    status, output = _run(engine, "compute", "--help")
    assert status == 0, output
    assert "PODIUM_PLATFORM_URL" in output and "PODIUM_COMPUTE_CPUS" in output

    status, output = _run(engine, "compute")
    assert status != 0
    assert "podium compute: Set the environment variable CELERY_BROKER_URL." in output

    broker = tmp_path / "broker"
    work = tmp_path / "compute"
    for folder in (broker / "queue", broker / "processed", broker / "control", work):
        folder.mkdir(parents=True)
    environment = {
        "CELERY_BROKER_URL": "filesystem://",
        "PODIUM_COMPUTE_BROKER_DIR": str(broker),
        "PODIUM_COMPUTE_WORK_DIR": str(work),
        "PODIUM_PLATFORM_URL": "http://127.0.0.1:1",
        "PODIUM_COMPUTE_CPUS": "1",
        "PODIUM_COMPUTE_MEMORY": "1g",
        # An operator's mistake: the platform's secrets handed to a compute host.
        "DATABASE_URL": "postgres://podium:canary-password@db/podium",
        "DJANGO_SECRET_KEY": secret_key,
    }
    # Same paths inside and out: the engine mounts a run's folders by their host paths.
    volumes = {str(tmp_path): {"bind": str(tmp_path), "mode": "rw"}}
    status, output = _run(engine, "compute", user="root", environment=environment, volumes=volumes)
    assert status == 2 and "host's PID namespace" in output

    compute = engine.containers.run(
        IMAGE,
        ["compute"],
        detach=True,
        name=f"podium-test-compute-{uuid.uuid4().hex[:8]}",
        network_mode="none",
        pid_mode="host",
        user="root",
        labels=LABEL,
        environment=environment,
        volumes={**volumes, "/var/run/docker.sock": {"bind": "/var/run/docker.sock"}},
    )
    try:
        _wait_for("the compute role", compute, lambda: b" ready." in compute.logs())
        logs = compute.logs().decode(errors="replace")
        assert "compute worker: 1.0 CPUs, 1073741824 bytes, GPUs []; queues ['compute']" in logs
        assert "the Docker engine is unreachable" not in logs
        seen = _celery_environ(compute)
        assert seen["PODIUM_PLATFORM_URL"] == "http://127.0.0.1:1"
        assert not {"DATABASE_URL", "DJANGO_SECRET_KEY", "PODIUM_HOME"} & seen.keys()
    finally:
        compute.stop(timeout=30)
        compute.remove(force=True)


def _deploy_check_warnings(engine: docker.DockerClient, secret_key: str) -> set[str]:
    status, output = _run(
        engine,
        "manage",
        "check",
        "--deploy",
        environment={
            "DJANGO_SECRET_KEY": secret_key,
            "DJANGO_ALLOWED_HOSTS": "podium.example",
            "PODIUM_HTTPS": "1",
        },
    )
    assert status == 0, output
    return set(re.findall(r"\((\w+\.[EW]\d+)\)", output))


def test_platform_image_serves_pages_and_runs_each_role(
    engine: docker.DockerClient, tmp_path: Path
) -> None:
    secret_key = secrets.token_urlsafe(50)
    config = engine.images.get(IMAGE).attrs["Config"]
    assert config["User"] == "podium"
    assert config["Env"] and "DJANGO_DEBUG=0" in config["Env"]

    # HSTS for subdomains and preloading are the operator's to decide; drf-spectacular's
    # enum naming note concerns the API schema's names only.
    allowed = {"security.W005", "security.W021", "drf_spectacular.W001"}
    assert _deploy_check_warnings(engine, secret_key) <= allowed

    _check_web_role(engine, secret_key)
    _check_compute_role(engine, tmp_path, secret_key)
