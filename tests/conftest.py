"""Fixtures shared by every test folder."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from adminworld import World, make_world
from django.conf import settings
from django.test import TransactionTestCase
from processes import process_env
from s3server import S3Server
from servers import PostgresServer, RedisServer

from competitions.bundles import competition_import_bundle
from competitions.models import Competition
from examples.digits.make_bundle import make_bundle

# Fixtures through which a test reaches Django's test database (pytest-django's own, and
# the live server, which flushes it).
DJANGO_DB_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
     "live_server"}
)  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    # ./podiumctl test runs two sessions side by side, one per database: --side sqlite and
    # --side postgres. Each test that uses the database runs in the PostgreSQL one, and in
    # the SQLite one too unless marked `once`; each of the others in one (side_of).
    parser.addoption(
        "--side",
        choices=("sqlite", "postgres"),
        default=None,
        help="run only this side's share of the suite (README, 'Tests on SQLite and "
        "PostgreSQL'); without it, everything",
    )


def uses_django_db(item: pytest.Item) -> bool:
    """Whether the test reaches the test database that tests/settings.py configures
    (pytest-django refuses database access to any other test, so this is exact)."""
    if item.get_closest_marker("django_db") is not None:
        return True
    if DJANGO_DB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    cls = getattr(item, "cls", None)
    return cls is not None and issubclass(cls, TransactionTestCase)


def side_of(item: pytest.Item) -> str:
    """'both', 'sqlite' or 'postgres': where the two-session run runs this test.

    - Every test marked ``once`` runs on the PostgreSQL side only: what it tests does not
      depend on the database (the starter kit learns) or is a deployment's configuration,
      whose database is PostgreSQL (Redis, RabbitMQ, S3, the platform's image).
    - Every other test that uses Django's test database runs on both: containers, workers,
      browsers and web servers included, so the whole suite runs on PostgreSQL and the
      embedded default (SQLite, what ``./podiumctl up`` runs) is tested end to end too.
    - Tests without Django's test database give the same result on either side, so they
      run once, on the SQLite side (the lighter one): the sandbox's, the scoring kernel's,
      and those that start a PostgreSQL of their own (the cluster, PostgreSQL+Redis).
    """
    if item.get_closest_marker("once") is not None:
        return "postgres"
    if "postgres_server" in getattr(item, "fixturenames", ()):
        return "sqlite"
    return "both" if uses_django_db(item) else "sqlite"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    side = config.getoption("side")
    if side is None:
        return
    keep, drop = [], []
    for item in items:
        (keep if side_of(item) in ("both", side) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def _fresh_podium_home() -> Iterator[None]:
    """Start every test session with empty media, work and broker folders."""
    home = Path(settings.PODIUM_HOME)
    for name in ("media", "work", "broker/queue", "broker/processed", "cache"):
        shutil.rmtree(home / name, ignore_errors=True)
        (home / name).mkdir(parents=True, exist_ok=True)
    yield


@pytest.fixture(scope="session")
def digits_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo competition's bundle, made from scikit-learn's digits."""
    return make_bundle(tmp_path_factory.mktemp("bundle") / "digits")


@pytest.fixture
def digits(db: None, digits_bundle: Path) -> Competition:
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    return competition


@pytest.fixture
def world(db: None, digits_bundle: Path) -> World:
    """Published digits, a draft, two teams with runs and files, staff (tests/admin)."""
    return make_world(digits_bundle)


ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def celery_worker(log: Path, **env: str) -> Iterator[Path]:
    """`celery -A podium worker` in its own process, on the test database, with ``env``
    added to its environment; yields its log once it is ready, stops it on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "podium", "worker", "-Q", "scoring",
             "--concurrency", "1", "--loglevel", "INFO", "--without-heartbeat",
             "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=process_env(**env), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while b"ready." not in log.read_bytes():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"worker not ready:\n{log.read_text()}"
                time.sleep(0.2)
            yield log
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(autouse=True)
def _broker_queue_emptied_after() -> Iterator[None]:
    """What a test's transactions queued and nobody took (board comparisons after commit)
    is that test's: a later test's worker must not spend a poll (a second) on each stale
    message before its own, which the filesystem transport hands out in the order sent."""
    yield
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    folder = options.get("data_folder_in")
    if folder and settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for path in Path(folder).glob("*.msg"):
            path.unlink(missing_ok=True)


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path) -> Iterator[Path]:
    """`celery -A podium worker` in its own process, on the test database; yields its log."""
    with celery_worker(tmp_path / "worker.log") as log:
        yield log


@pytest.fixture
def start_worker(
    transactional_db: None, tmp_path: Path
) -> Callable[..., contextlib.AbstractContextManager[Path]]:
    """``with start_worker(**env) as log:`` a worker as `worker` gives, with ``env`` added
    to its environment (e.g. another storage)."""
    return lambda **env: celery_worker(tmp_path / "worker.log", **env)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of this session on 127.0.0.1 (tests/servers.py); stopped at the end."""
    with RedisServer(Path(settings.PODIUM_HOME) / "var") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of this session on 127.0.0.1 (tests/servers.py), database
    ``podium``, superuser ``postgres`` (trust); stopped and deleted at the end."""
    with PostgresServer(Path(settings.PODIUM_HOME) / "var") as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3-compatible server of this session on 127.0.0.1 (moto; tests/s3server.py)."""
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_storage(s3_server: S3Server, settings: Any) -> S3Server:
    """This test's files in the session's bucket under a prefix of its own
    (PODIUM_STORAGE=s3 in this process; hand ``.env()`` to the processes it starts)."""
    bucket = dataclasses.replace(s3_server, prefix=f"t-{uuid.uuid4().hex[:12]}")
    settings.STORAGES = bucket.storages(settings.STORAGES)
    return bucket
