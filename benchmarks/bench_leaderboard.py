"""Latency and query count of the leaderboard API's first page as teams grow.

Creates a competition in a temporary SQLite database and grows it to 100, 1,000 and
10,000 teams with 20 scored submissions each (200,000 in the end), with a stored
interval for every ranked entry. The rows are bulk-inserted, so the standings are then
rebuilt from scratch (competitions.standings.standings_rebuild, what the data migration
does; its time is printed). At each size it prints the median latency of
`GET /api/v1/competitions/{slug}/leaderboard/` (first page, 100 entries, with the
reader's own row) through django.test.Client under the production configuration
(DJANGO_DEBUG=0): cold (the first request after the write) and warm (the median of the
next ones); the board is read from the stored standings, with no cache, so both should
be the same. Beside it: the web page's first page (warm median and CPU), and the floor:
the same page's SELECT (a range of stored ranks with team names and intervals; 101 rows)
through sqlite3 directly, and the API's ratio to it; and the API's CPU time (this
process's, SQLite included), which a loaded machine does not inflate as it does the
wall-clock figures. Then the full board
as CSV (`.../leaderboard/csv/`, streamed). The last two lines are for scripts:

    first page at 10000 teams: cold X ms, warm Y ms, Q queries
    full board CSV at 10000 teams: Z ms

    .venv/bin/python benchmarks/bench_leaderboard.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PODIUM_HOME"] = tempfile.mkdtemp(prefix="podium-bench-lb-")
os.environ.setdefault("DJANGO_DEBUG", "0")  # as ./podiumctl up runs it
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + os.urandom(16).hex())
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from competitions.models import (  # noqa: E402
    Competition,
    ScoreInterval,
    Submission,
    Team,
    TeamMembership,
    TeamStanding,
)
from competitions.names import name_key  # noqa: E402
from competitions.standings import standings_rebuild  # noqa: E402
from podium import warmup  # noqa: E402

SIZES = (100, 1_000, 10_000)
PER_TEAM = 20


def new_competition() -> Competition:
    """A published, open competition for the board."""
    return Competition.objects.create(
        slug="bench",
        title="Bench",
        start=timezone.now() - dt.timedelta(days=30),
        end=timezone.now() + dt.timedelta(days=30),
        target_columns=["label"],
        published_at=timezone.now(),
    )


def grow(competition: Competition, user: User, start: int, stop: int) -> None:
    rng = random.Random(start)
    t0 = timezone.now() - dt.timedelta(days=10)
    teams = Team.objects.bulk_create(
        # bulk_create skips Team.save, which fills the look-alike key.
        [
            Team(competition=competition, name=f"team-{i:05d}", name_key=name_key(f"team-{i:05d}"))
            for i in range(start, stop)
        ],
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


def rebuild(competition: Competition) -> float:
    """Rebuild the standings from scratch and store an interval per ranked entry (ms)."""
    start = time.perf_counter()
    standings_rebuild(competition_id=competition.pk)
    took = (time.perf_counter() - start) * 1000
    ranked = TeamStanding.objects.filter(competition=competition).values_list(
        "public_submission_id", "public_score"
    )
    ScoreInterval.objects.bulk_create(
        [
            ScoreInterval(
                submission_id=pk,
                part="public",
                low=(score or 0.0) - 0.01,
                high=(score or 0.0) + 0.01,
                method="wilson",
                confidence=0.95,
            )
            for pk, score in ranked
        ],
        batch_size=5000,
        ignore_conflicts=True,
    )
    return took


def measure(client: Client, url: str, repeat: int) -> tuple[float, float, float, int, int]:
    """(cold ms, warm ms, warm CPU ms of this process, queries, entries) of GET url.

    Timed without the query log; one more request counts the queries. The CPU time
    (time.process_time: this process, where SQLite runs too) is the request's own cost,
    which waiting for a CPU on a loaded machine does not inflate."""
    times, cpu = [], []
    reset_queries()  # the rebuild's queries would overflow the query log
    for _ in range(repeat + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        assert response.status_code == 200, response.content[:300]
    with CaptureQueriesContext(connection) as captured:
        entries = len(client.get(url).json()["entries"])
    return (
        times[0] * 1000,
        statistics.median(times[1:]) * 1000,
        statistics.median(cpu[1:]) * 1000,
        len(captured.captured_queries),
        entries,
    )


RAW_PAGE = """
SELECT s.public_rank, s.team_id, t.name, s.public_score, s.submissions, s.last_submission,
       s.public_submission_id, i.low, i.high, i.compared_with, i.not_significant,
       s.public_additional_scores, s.public_rank
FROM competitions_teamstanding s
JOIN competitions_team t ON t.id = s.team_id
LEFT JOIN competitions_scoreinterval i ON i.submission_id = s.public_submission_id
                                      AND i.part = 'public'
WHERE s.competition_id = ? AND s.public_rank BETWEEN 1 AND 101
"""


def raw_ms(competition: Competition, repeat: int) -> float:
    """The floor: the first page's rows through sqlite3 directly, warm median (ms)."""
    db = sqlite3.connect(settings.DATABASES["default"]["NAME"])
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        rows = db.execute(RAW_PAGE, (competition.pk,)).fetchall()
        times.append(time.perf_counter() - start)
    db.close()
    assert len(rows) == min(101, TeamStanding.objects.filter(competition=competition).count())
    return statistics.median(times[1:]) * 1000


def page_ms(client: Client, url: str, repeat: int) -> tuple[float, float]:
    """The web page's warm median and its CPU time's median (ms)."""
    times, cpu = [], []
    for _ in range(repeat + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        assert response.status_code == 200
    return statistics.median(times[1:]) * 1000, statistics.median(cpu[1:]) * 1000


def csv_ms(client: Client, url: str) -> tuple[float, int]:
    start = time.perf_counter()
    response = client.get(url)
    size = sum(len(chunk) for chunk in response.streaming_content)  # type: ignore[attr-defined,misc]  # the test client's response type lacks the streaming attribute
    return (time.perf_counter() - start) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    warmup.warm()  # as podium/wsgi.py does when a web process boots
    user = User.objects.create_user("bench")
    competition = new_competition()
    client = Client()
    client.force_login(user)
    url = f"/api/v1/competitions/{competition.slug}/leaderboard/"
    print(f"database: {settings.DATABASES['default']['NAME']}")
    print(
        f"{'teams':>7} {'submissions':>11} {'rebuild ms':>10} {'entries':>7} {'cold ms':>8} "
        f"{'warm ms':>8} {'cpu ms':>7} {'queries':>7} {'web ms':>7} {'web cpu':>7} {'raw ms':>7} "
        f"{'ratio':>6} "
        f"{'csv ms':>8} {'csv bytes':>10}"
    )
    done = 0
    figures = {}
    for size in SIZES:
        grow(competition, user, done, size)
        if done == 0:  # the reader's team: its own row comes with every page
            TeamMembership.objects.create(
                team=Team.objects.get(competition=competition, name="team-00000"),
                competition=competition,
                user=user,
                rules_accepted_at=timezone.now(),
            )
        done = size
        took = rebuild(competition)
        # The writes' garbage is collected with the writes: in production they happen in a
        # worker, and a web process never holds it (else the "cold" request pays a full
        # collection of the 200,000 rows this process just made).
        gc.collect()
        cold, warm, cpu, queries, entries = measure(client, url, args.repeat)
        web, web_cpu = page_ms(client, f"/c/{competition.slug}/leaderboard/", args.repeat)
        raw = raw_ms(competition, args.repeat)
        full, size_bytes = csv_ms(client, url + "csv/")
        figures[size] = (cold, warm, queries, full)
        print(
            f"{size:>7} {Submission.objects.count():>11} {took:>10.0f} {entries:>7} "
            f"{cold:>8.1f} {warm:>8.1f} {cpu:>7.1f} {queries:>7} {web:>7.1f} {web_cpu:>7.1f} "
            f"{raw:>7.2f} "
            f"{warm / raw:>6.1f} {full:>8.0f} {size_bytes:>10}",
            flush=True,
        )
    cold, warm, queries, full = figures[SIZES[-1]]
    print(
        f"first page at {SIZES[-1]} teams: cold {cold:.1f} ms, warm {warm:.1f} ms, "
        f"{queries} queries"
    )
    print(f"full board CSV at {SIZES[-1]} teams: {full:.0f} ms")


if __name__ == "__main__":
    main()
