"""Real Redis and PostgreSQL servers for tests, from Debian's packages, started by the tests.

Each server listens on 127.0.0.1 only, on a free port of its own, with its data folder
under ``PODIUM_HOME/var/<kind>-<pid>-<random>`` (never the system service's cluster or
port), so that two test sessions (two worktrees, or CI beside a developer) never collide.
``./podiumctl test`` installs the packages (``redis-server``, ``postgresql``) when missing.

    with RedisServer(root) as redis:        # redis.url == "redis://127.0.0.1:PORT/0"
        ...
        redis.kill()                        # SIGKILL, as a crash; redis.start() again on
        redis.start()                       # the same port and folder

    with PostgresServer(root) as pg:        # pg.url == "postgres://postgres@127.0.0.1:PORT/podium"
        ...

PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` user (which
Debian's package creates) through ``runuser``; as any other user, as that user. Errors:
``ServerError`` when a binary is missing or a server does not come up (its log attached).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg

STARTUP_TIMEOUT_SECONDS = 60.0


class ServerError(RuntimeError):
    """A test server could not be found or started; the message says which and why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _version_key(path: str) -> list[int]:
    return [int(part) for part in path.split("/") if part.isdigit()]


def _binary(name: str, *patterns: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for pattern in patterns:
        # Debian keeps PostgreSQL's programs off PATH, one folder per major version.
        matches = sorted(glob.glob(pattern), key=_version_key)
        if matches:
            return matches[-1]
    raise ServerError(
        f"{name} is not installed: ./podiumctl test installs it (Debian packages "
        "redis-server and postgresql)."
    )


class _Server:
    """A server process with a data folder of its own; subclasses say how to run it."""

    kind = "server"

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.kind}-{os.getpid()}-", dir=root))
        self.port = free_port()
        self.log = self.dir / f"{self.kind}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        return _answers(self.port)

    def start(self) -> None:
        """Start the server (again) on its port and folder; return once it answers."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self._command(), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.dir,
            )  # fmt: skip
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"{self.kind} did not start on 127.0.0.1:{self.port}:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def log_tail(self, size: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (nothing flushed, no clean shutdown)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self, stop_signal: int = signal.SIGTERM) -> None:
        """Stop the server cleanly (SIGKILL after 30 s); a stopped server is left alone."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        os.killpg(self.process.pid, stop_signal)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def close(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class RedisServer(_Server):
    """``redis-server`` on 127.0.0.1:``port``, without persistence: a kill loses every
    message it held, the worst a broker crash can do."""

    kind = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        return [
            _binary("redis-server", "/usr/bin/redis-server"),
            "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
            "--unixsocket", "", "--logfile", "",
        ]  # fmt: skip

    def _ready(self) -> bool:
        if not _answers(self.port):
            return False
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")

    def command(self, *args: str) -> bytes:
        """One command through redis-cli, for tests that look inside (LLEN, KEYS, ...)."""
        cli = _binary("redis-cli", "/usr/bin/redis-cli")
        return subprocess.run(
            [cli, "-h", "127.0.0.1", "-p", str(self.port), "--raw", *args],
            check=True, capture_output=True, timeout=30,
        ).stdout  # fmt: skip


class PostgresServer(_Server):
    """A PostgreSQL cluster of its own (``initdb``, trust authentication on 127.0.0.1 only,
    no Unix socket) with a database ``podium``; superuser ``postgres``."""

    kind = "postgres"
    user = "postgres"
    database = "podium"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.data = self.dir / "data"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, user="postgres")
            probe = subprocess.run([*self._as_user, "test", "-w", str(self.dir)], check=False)
            if probe.returncode != 0:
                raise ServerError(
                    f"the postgres user cannot reach {self.dir} (a parent folder is closed "
                    "to other users): open it with chmod o+x or set PODIUM_TEST_HOME elsewhere"
                )
        bindir = Path(_binary("initdb", "/usr/lib/postgresql/*/bin/initdb")).parent
        self._initdb = str(bindir / "initdb")
        self._postgres = str(bindir / "postgres")
        with self.log.open("ab") as out:
            done = subprocess.run(
                [*self._as_user, self._initdb, "-D", str(self.data), "-U", self.user,
                 "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                stdout=out, stderr=subprocess.STDOUT, check=False, timeout=120,
            )  # fmt: skip
        if done.returncode != 0:
            raise ServerError(f"initdb failed in {self.data}:\n{self.log_tail()}")

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _command(self) -> list[str]:
        # fsync off: a test cluster is thrown away, and durability costs CI time.
        return [
            *self._as_user, self._postgres, "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ]  # fmt: skip

    def _ready(self) -> bool:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=self.port, user=self.user, dbname="postgres",
                connect_timeout=2, autocommit=True,
            ) as conn:  # fmt: skip
                if not conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [self.database]
                ).fetchone():
                    conn.execute(f'CREATE DATABASE "{self.database}"')
            return True
        except psycopg.OperationalError:
            return False

    def stop(self, stop_signal: int = signal.SIGINT) -> None:
        """Fast shutdown (SIGINT): open sessions are ended, the cluster is left clean."""
        super().stop(stop_signal)
