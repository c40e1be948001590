"""Fixtures for the browser tests: headless Chromium from Debian, a real Celery worker,
the demo baseline image, and a folder for screenshots."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from processes import process_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """var/screenshots/ (gitignored), emptied at the start of the session."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    print(f"\nscreenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Debian's Chromium through Debian's chromedriver; nothing downloads a browser and
    nothing leaves 127.0.0.1 (every other host name fails to resolve)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "Chromium is missing: apt-get install chromium chromium-driver "
            "(./podiumctl test installs them).",
            pytrace=False,
        )
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--no-pings",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    # The console (Content-Security-Policy violations among it) for driver.get_log("browser").
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def worker_pids(self) -> list[int]:
        """Gunicorn's worker processes (children of the master)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


@pytest.fixture(scope="session")
def collected_static() -> None:
    """The static files collected as `./podiumctl up` collects them (STATIC_ROOT under the
    test home). Gunicorn with DEBUG off serves only those (whitenoise): without them every
    page would run without its scripts, and a test would pass or fail by which test
    happened to collect them first."""
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.fixture
def serve(
    transactional_db: None, tmp_path: Path, collected_static: None
) -> Iterator[Callable[..., Server]]:
    """Start the platform under gunicorn on 127.0.0.1, on the test database, with the
    static files collected."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        port = _free_port()
        log = tmp_path / f"gunicorn-{port}.log"
        out = log.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "podium.wsgi", "--bind", f"127.0.0.1:{port}",
             "--timeout", "120", *args],
            cwd=ROOT, env=process_env(**(env or {})), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        server = Server(f"http://127.0.0.1:{port}", process, log)
        started.append(server)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"server not up:\n{log.read_text()}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.2)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.process.terminate()
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()


@pytest.fixture(scope="session")
def baseline_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/baseline-sklearn built and saved as a participant would: gzip'ed docker save."""
    import docker
    import docker.errors

    import sandbox

    try:
        client = sandbox.docker_client()
        client.images.get("podium/python:3.11")
    except (sandbox.EngineError, docker.errors.ImageNotFound) as exc:
        pytest.fail(
            f"{exc}. Start the Docker engine and build podium/python:3.11 with "
            "docker/build-base-images.sh (./podiumctl test does both).",
            pytrace=False,
        )
    tag = "podium-test/digits-baseline:latest"
    client.images.build(
        path=str(ROOT / "examples" / "baseline-sklearn"), tag=tag, network_mode="none", rm=True
    )
    target = tmp_path_factory.mktemp("images") / "digits-baseline.tar.gz"
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(target.open("wb"))
        out = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1))
        for chunk in client.images.get(tag).save(named=True):
            out.write(chunk)
    return target
