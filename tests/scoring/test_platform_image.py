"""The platform's own image (docker/build-platform-image.sh), run as an operator runs it.

One test, for CI time: the image is built once per source tree (cached by tag and source
hash; `./podiumctl test` starts the build in the background). The web role runs against
SQLite with DEBUG off and serves a page and a compressed static file; `check --deploy`
finds nothing but the two HSTS choices left to the operator; the compute role explains
its variables, names a missing one, refuses a private PID namespace, and then, run as
compose and the systemd unit run it (root with CAP_SYS_ADMIN and the loop devices, the
host's PID namespace, the engine's socket, its work folder shared back to the host),
scores a submission for a platform under gunicorn, with the secrets an operator handed it
by mistake stripped from the worker's environment.

The engine here runs with `--bridge=none`: containers get no network or the host's. The
web and compute containers use the host's network; the web role binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pandas as pd
import pytest
import requests
from computehosts import platform_server, tiny_archive
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings
from docker.models.containers import Container
from docker.types import Mount

from competitions.models import Competition, Submission
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join
from podium_compute.config import ComputeConfig
from podium_compute.runner import instance_label
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "podium/platform:test"
# This session's containers: whatever a failure leaves (a container created whose start
# failed) is removed by this label, never another session's on the shared engine.
LABEL = {"podium.test": f"platform-image-{uuid.uuid4().hex[:12]}"}
START_DEADLINE_SECONDS = 180.0
SLOW_COPY = "sleep 3; cp /data/sample_submission.csv /output/predictions.csv"

# Once: the image brings its own SQLite; the platform under test is the same on either side.
pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.once, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def platform_image(engine: docker.DockerClient) -> Iterator[str]:
    """The image, built (or found up to date with the sources) by the operator's script;
    afterwards no container of this module is left."""
    build = subprocess.run(
        [str(ROOT / "docker" / "build-platform-image.sh"), IMAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, f"building {IMAGE} failed:\n{build.stderr[-3000:]}"
    yield IMAGE
    label = f"podium.test={LABEL['podium.test']}"
    for container in engine.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)


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


def _wait_for(what: str, container: Container, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if ready():
            return
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.5)
    logs = container.logs().decode(errors="replace")[-3000:]
    pytest.fail(f"{what} did not come up (status {container.status}):\n{logs}")


def _answers(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        requests.get(url, timeout=5, allow_redirects=False)
        return True
    return False


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


def _start_web_role(engine: docker.DockerClient, secret_key: str) -> tuple[Container, str]:
    """The web role on 127.0.0.1 (the host's network); it migrates its SQLite database
    and starts gunicorn while the test goes on with the other roles."""
    port = free_port()
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
    return web, f"http://127.0.0.1:{port}"


def _check_web_role(web: Container, base: str) -> None:
    _wait_for("the web role", web, lambda: _answers(base + "/"))
    home = requests.get(base + "/", timeout=10)
    assert home.status_code == 200
    assert "<title>Competitions" in home.text
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


def _check_compute_role_refusals(engine: docker.DockerClient, environment: dict[str, str]) -> None:
    status, output = _run(engine, "compute", "--help")
    assert status == 0, output
    assert "PODIUM_PLATFORM_URL" in output and "PODIUM_COMPUTE_CPUS" in output

    status, output = _run(engine, "compute")
    assert status != 0
    assert "podium compute: Set the environment variable CELERY_BROKER_URL." in output

    status, output = _run(engine, "compute", user="root", environment=environment)
    assert status == 2 and "host's PID namespace" in output


@contextlib.contextmanager
def _shared_folder(folder: Path) -> Iterator[None]:
    """Make ``folder`` a shared mount of its own (what the systemd unit does for its work
    folder), so that the loop mounts the compute container makes there reach the host,
    whose engine mounts them into the runs; this host's / is a private mount."""
    folder.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "--make-rshared", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def _celery_environs(container: Container) -> list[bytes]:
    """The environments of the container's Celery processes, read through the host's /proc."""
    found = []
    for pid, args in container.top(ps_args="-eo pid,args")["Processes"]:
        if "celery" in args:
            with contextlib.suppress(OSError):
                found.append(Path(f"/proc/{pid}/environ").read_bytes())
    return found


def _check_compute_role_scores(
    engine: docker.DockerClient,
    worker: Path,
    digits: Competition,
    tmp_path: Path,
    environment: dict[str, str],
    mounts: list[Mount],
) -> None:
    url, web = platform_server(tmp_path / "web.log")
    environment = {**environment, "PODIUM_PLATFORM_URL": url}
    mine = f"podium.instance={instance_label(ComputeConfig.from_env(environment))}"
    compute = engine.containers.run(
        IMAGE,
        ["compute"],
        detach=True,
        name=f"podium-test-compute-{uuid.uuid4().hex[:8]}",
        network_mode="host",
        pid_mode="host",
        user="root",
        # The loop-mounted /output of each run: mount, and the loop devices (not
        # --privileged, which this engine cannot grant: it lacks CAP_SYS_RESOURCE).
        cap_add=["SYS_ADMIN"],
        device_cgroup_rules=["b 7:* rmw", "c 10:237 rmw"],
        security_opt=["apparmor=unconfined"],
        labels=LABEL,
        environment=environment,
        mounts=mounts,
    )
    try:
        _wait_for("the compute role", compute, lambda: b" ready." in compute.logs())
        user = User.objects.create_user(username="hopper")
        competition_join(user=user, competition=digits)
        with (
            override_settings(PODIUM_COMPUTE_REMOTE=True),
            tiny_archive(engine, tmp_path / "tiny.tar", SLOW_COPY).open("rb") as fh,
        ):
            submission = submission_create(user=user, competition=digits, image=fh)
        environs: list[bytes] = []
        run_mounts: list[str] = []
        deadline = time.monotonic() + 300
        while not submission.is_finished:
            logs = compute.logs().decode(errors="replace")[-3000:]
            assert time.monotonic() < deadline, f"still {submission.status}:\n{logs}"
            environs += _celery_environs(compute)
            for run in engine.containers.list(
                filters={"label": [mine, f"podium.submission={submission.pk}"]}
            ):
                run_mounts += [m["Source"] for m in run.attrs["Mounts"]]
            time.sleep(0.2)
            submission.refresh_from_db()
        logs = compute.logs().decode(errors="replace")
    finally:
        compute.stop(timeout=30)
        compute.remove(force=True)
        web.stop()

    assert submission.status == Submission.Status.SCORED, (
        f"{submission.failure_kind}: {submission.failure_message}\n{logs[-3000:]}"
        f"\n{worker.read_text()[-3000:]}"
    )
    # The run's folders were the compute host's, mounted by their host paths.
    work = environment["PODIUM_COMPUTE_WORK_DIR"]
    assert run_mounts and all(m.startswith(work) for m in run_mounts), run_mounts
    # The secrets an operator handed the container by mistake never reached the worker.
    assert environs
    for environ in environs:
        names = {item.split(b"=", 1)[0] for item in environ.split(b"\0") if item}
        assert not names & {b"DATABASE_URL", b"DJANGO_SECRET_KEY", b"PODIUM_HOME"}, names
        assert settings.SECRET_KEY.encode() not in environ
    # Scored where the solution is: the sample submission's accuracy on each part.
    solution = pd.read_csv(digits.files.get(kind="solution").file.path)
    predictions = pd.read_csv(submission.predictions.path)
    merged = solution.merge(predictions, on="id", suffixes=("", "_predicted"))
    for part, score in (("Public", submission.public_score), ("Private", submission.private_score)):
        rows = merged[merged["Usage"] == part]
        assert score == pytest.approx(float((rows["label"] == rows["label_predicted"]).mean()))


def _check_compute_role(
    engine: docker.DockerClient, worker: Path, digits: Competition, tmp_path: Path
) -> None:
    broker = Path(settings.PODIUM_HOME) / "broker"
    work = tmp_path / "compute"
    environment = {
        "CELERY_BROKER_URL": "filesystem://localhost//",
        "PODIUM_COMPUTE_BROKER_DIR": str(broker),
        "PODIUM_COMPUTE_WORK_DIR": str(work),
        "PODIUM_PLATFORM_URL": "http://127.0.0.1:1",
        "PODIUM_COMPUTE_CPUS": "1",
        "PODIUM_COMPUTE_MEMORY": "2g",
        # An operator's mistake: the platform's secrets handed to a compute host.
        "DATABASE_URL": "postgres://podium:canary-password@db/podium",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "PODIUM_HOME": str(settings.PODIUM_HOME),
    }
    _check_compute_role_refusals(engine, environment)

    with _shared_folder(work):
        # Same paths inside and out: the engine mounts a run's folders by their host paths.
        mounts = [
            Mount("/var/run/docker.sock", "/var/run/docker.sock", type="bind"),
            Mount("/dev", "/dev", type="bind"),
            Mount(str(broker), str(broker), type="bind"),
            Mount(str(work), str(work), type="bind", propagation="rshared"),
        ]
        _check_compute_role_scores(engine, worker, digits, tmp_path, environment, mounts)


def test_platform_image_serves_pages_and_runs_each_role(
    platform_image: str,
    engine: docker.DockerClient,
    worker: Path,
    digits: Competition,
    tmp_path: Path,
) -> None:
    secret_key = secrets.token_urlsafe(50)
    config = engine.images.get(platform_image).attrs["Config"]
    assert config["User"] == "podium"
    assert "DJANGO_DEBUG=0" in config["Env"]
    web, base = _start_web_role(engine, secret_key)
    try:
        # HSTS for subdomains and preloading are the operator's to decide; drf-spectacular's
        # enum naming note concerns the API schema's names only.
        allowed = {"security.W005", "security.W021", "drf_spectacular.W001"}
        assert _deploy_check_warnings(engine, secret_key) <= allowed
        _check_compute_role(engine, worker, digits, tmp_path)
        _check_web_role(web, base)
    finally:
        web.remove(force=True)
