"""The real servers that tests start (tests/servers.py): loopback only, a port and a
folder of their own, PostgreSQL not as root, and a crash and restart on the same port."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from servers import PostgresServer, RedisServer

pytestmark = pytest.mark.servers


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def _postmaster_pid(server: PostgresServer) -> int:
    return int((server.data / "postmaster.pid").read_text().split()[0])


def test_redis_listens_on_loopback_in_its_own_folder_and_survives_a_kill(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    assert redis_server.command("CONFIG", "GET", "bind").split()[1] == b"127.0.0.1"
    assert redis_server.dir.is_relative_to(Path(settings.PODIUM_HOME) / "var")
    # A second server of another session: another port, another folder.
    with RedisServer(tmp_path) as other:
        assert other.port != redis_server.port and other.dir != redis_server.dir
        other.command("SET", "k", "v")
        port = other.port
        other.kill()
        other.start()
        assert other.port == port and other.command("PING") == b"PONG\n"
        # Nothing persisted: a crash loses what the broker held.
        assert other.command("EXISTS", "k") == b"0\n"
    assert other.process is None and not other.dir.exists()


def test_postgres_runs_as_a_user_not_root_on_loopback(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW port").fetchone() == (str(postgres_server.port),)
        assert conn.execute("SELECT current_database()").fetchone() == ("podium",)
    assert _uid(_postmaster_pid(postgres_server)) != 0
    assert postgres_server.data.is_relative_to(Path(settings.PODIUM_HOME) / "var")
