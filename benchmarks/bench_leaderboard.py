"""Latency and query count of the public leaderboard API as teams grow.

Creates a competition in a temporary SQLite database and grows it to 100, 1,000 and
10,000 teams with 20 scored submissions each (200,000 in the end). At each size it
prints the median latency of `GET /api/v1/competitions/{slug}/leaderboard/` through
django.test.Client, cold (the leaderboard cache off: every request computes the board)
and warm (cached until a submission is scored), and the number of queries per request;
then the selector alone (ms, without the API's serialization), cold and warm.

    .venv/bin/python benchmarks/bench_leaderboard.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PODIUM_HOME"] = tempfile.mkdtemp(prefix="podium-bench-lb-")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import AnonymousUser, User  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from competitions.models import Competition, Submission, Team  # noqa: E402

SIZES = (100, 1_000, 10_000)
PER_TEAM = 20


def grow(competition: Competition, user: User, start: int, stop: int) -> None:
    rng = random.Random(start)
    t0 = timezone.now() - dt.timedelta(days=10)
    teams = Team.objects.bulk_create(
        [Team(competition=competition, name=f"team-{i:05d}") for i in range(start, stop)],
        batch_size=2000,
    )
    rows = []
    for team in teams:
        for j in range(PER_TEAM):
            score = rng.random()
            rows.append(
                Submission(
                    competition=competition,
                    team=team,
                    user=user,
                    created_at=t0 + dt.timedelta(seconds=rng.randrange(800_000)),
                    image=f"submissions/bench/{team.pk}-{j}.tar",
                    image_sha256="0" * 64,
                    image_size=1,
                    status=Submission.Status.SCORED,
                    public_score=score,
                    private_score=min(1.0, max(0.0, score + rng.gauss(0, 0.05))),
                )
            )
    Submission.objects.bulk_create(rows, batch_size=5000)
    # What scoring does: mark the boards stale.
    Competition.objects.filter(pk=competition.pk).update(updated_at=timezone.now())


def measure(client: Client, url: str, repeat: int, cached: bool) -> tuple[float, int, int]:
    settings.PODIUM_LEADERBOARD_CACHE_SECONDS = 300 if cached else 0
    cache.clear()
    if cached:
        client.get(url)  # fill the cache
    times, queries, entries = [], 0, 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.content[:300]
        queries = len(captured.captured_queries)
        entries = len(response.json()["entries"])
    return statistics.median(times) * 1000, queries, entries


def selector_ms(competition: Competition, repeat: int, cached: bool) -> float:
    """The selector alone (what the API view calls), without serialization."""
    from competitions.leaderboards import leaderboard_for_user

    settings.PODIUM_LEADERBOARD_CACHE_SECONDS = 300 if cached else 0
    cache.clear()
    anonymous = AnonymousUser()
    if cached:
        leaderboard_for_user(user=anonymous, competition=competition)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        leaderboard_for_user(user=anonymous, competition=competition)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    competition = Competition.objects.create(
        slug="bench",
        title="Bench",
        start=timezone.now() - dt.timedelta(days=30),
        end=timezone.now() + dt.timedelta(days=30),
        target_columns=["label"],
    )
    settings.PODIUM_LEADERBOARD_CI_TOP = 0  # no kept predictions here: nothing to bootstrap
    client = Client()
    url = f"/api/v1/competitions/{competition.slug}/leaderboard/"
    print(f"database: {settings.DATABASES['default']['NAME']}")
    print(
        f"{'teams':>7} {'submissions':>11} {'entries':>7} {'cold ms':>8} {'queries':>7} "
        f"{'warm ms':>8} {'queries':>7} {'selector cold':>13} {'selector warm':>13}"
    )
    done = 0
    for size in SIZES:
        grow(competition, user, done, size)
        done = size
        cold, cold_q, entries = measure(client, url, args.repeat, cached=False)
        warm, warm_q, _ = measure(client, url, args.repeat, cached=True)
        sel_cold = selector_ms(competition, args.repeat, cached=False)
        sel_warm = selector_ms(competition, args.repeat, cached=True)
        print(
            f"{size:>7} {Submission.objects.count():>11} {entries:>7} {cold:>8.1f} {cold_q:>7} "
            f"{warm:>8.1f} {warm_q:>7} {sel_cold:>13.1f} {sel_warm:>13.1f}"
        )


if __name__ == "__main__":
    main()
