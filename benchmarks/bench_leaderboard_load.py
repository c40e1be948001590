"""Load test of the leaderboard pages right after a restart of the web server.

Builds a board of --teams teams (20 scored submissions each, a stored interval for every
ranked entry: what the worker leaves) in a temporary SQLite database, collects the
static files and starts gunicorn as `./podiumctl up` does (DJANGO_DEBUG=0, --preload, 2
workers of 4 threads), stops it and starts it again, then runs --clients concurrent clients
for --seconds seconds, each requesting in turn the web page and the API's first page (public,
with intervals), the web page's and the API's page 2, and a signed-in team's API page
(its own row). Prints the count, median, p99 and max latency per page and in all, and
whether any request took over 1 s. A figure, never asserted in a test.

The API throttles are raised for the run (PODIUM_API_THROTTLE_ANON/USER): the clients
come from one address, which the default anonymous rate (300/minute) would answer 429.

    .venv/bin/python benchmarks/bench_leaderboard_load.py [--teams 10000] [--clients 20]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import bench_leaderboard as bench  # sets up Django on a temporary PODIUM_HOME
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token

from competitions.models import Competition, Team, TeamMembership

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(teams: int) -> tuple[Competition, str]:
    """The board, and the API token of a member of a team on it."""
    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--no-input", verbosity=0)
    user = User.objects.create_user("bench")
    competition = bench.new_competition()
    bench.grow(competition, user, 0, teams)
    TeamMembership.objects.create(
        team=Team.objects.get(competition=competition, name=f"team-{teams // 2:05d}"),
        competition=competition,
        user=user,
        rules_accepted_at=timezone.now(),
    )
    bench.rebuild(competition)
    return competition, Token.objects.create(user=user).key


def start(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PODIUM_API_THROTTLE_ANON": "1000000/minute",
        "PODIUM_API_THROTTLE_USER": "1000000/minute",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "podium.wsgi", "--preload",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--timeout", "1800",
         "--error-logfile", str(Path(settings.PODIUM_HOME) / "gunicorn.log")],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # --preload: the socket opens once the app is loaded
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start: see gunicorn.log under PODIUM_HOME")


def wait_answering(port: int, probes: int = 8) -> float:
    """Seconds until `probes` concurrent requests of a static file were all answered:
    the workers booted (gunicorn binds its socket before its workers load Django)."""
    start = time.perf_counter()

    def probe() -> None:
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                connection.request("GET", "/favicon.ico")
                response = connection.getresponse()
                response.read()
                if response.status < 500:
                    return
            except OSError:
                time.sleep(0.2)
            finally:
                connection.close()

    threads = [threading.Thread(target=probe) for _ in range(probes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def client(
    port: int,
    token: str,
    paths: list[tuple[str, str, bool]],
    until: float,
    out: list[tuple[str, float, int]],
) -> None:
    """Request the pages in turn, a connection each, until `until`; append (name,
    seconds, status)."""
    i = 0
    while time.monotonic() < until:
        name, path, signed_in = paths[i % len(paths)]
        i += 1
        headers = {"Authorization": f"Token {token}"} if signed_in else {}
        start = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except OSError:
            status = 0
        finally:
            connection.close()
        out.append((name, time.perf_counter() - start, status))


def report(name: str, times: list[float]) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return (
        f"{name:<14} {len(times):>7} {statistics.median(times) * 1000:>9.1f} "
        f"{p99 * 1000:>9.1f} {times[-1] * 1000:>9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--teams", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    competition, token = build(args.teams)
    slug = competition.slug
    paths = [
        ("web page 1", f"/c/{slug}/leaderboard/", False),
        ("api page 1", f"/api/v1/competitions/{slug}/leaderboard/", False),
        ("web page 2", f"/c/{slug}/leaderboard/?page=2", False),
        ("api page 2", f"/api/v1/competitions/{slug}/leaderboard/?page=2", False),
        ("api own row", f"/api/v1/competitions/{slug}/leaderboard/", True),
    ]
    port = free_port()
    stop(start(port))  # a first start, then the restart measured
    started = time.perf_counter()
    server = start(port)
    opened = time.perf_counter() - started
    booted = wait_answering(port)
    results: list[tuple[str, float, int]] = []
    until = time.monotonic() + args.seconds
    try:
        threads = [
            threading.Thread(
                target=client,
                args=(
                    port,
                    token,
                    paths[i % len(paths) :] + paths[: i % len(paths)],
                    until,
                    results,
                ),
            )
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop(server)
    failed = [r for r in results if r[2] != 200]
    print(
        f"{args.clients} clients, {args.seconds:.0f} s, {args.teams} teams, gunicorn 2x4, "
        f"right after a restart (its socket opened {opened:.1f} s after the start, its workers "
        f"answered {booted:.1f} s later); {len(failed)} non-200 answers"
    )
    print(f"{'page':<14} {'count':>7} {'median ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name, _, _ in paths:
        print(report(name, [t for n, t, _ in results if n == name]))
    times = [t for _, t, _ in results]
    print(report("all", times))
    slow = sum(1 for t in times if t > 1.0)
    print(f"requests over 1 s: {slow} of {len(times)} ({'none' if not slow else 'SOME'})")


if __name__ == "__main__":
    main()
