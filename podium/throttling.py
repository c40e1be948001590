"""Rate limits that hold under concurrency: one atomic counter per (scope, client).

Every limit on how often a client may do something (API requests, sign-ups, invitations,
failed logins from one address) counts here. DRF's own throttle reads a client's history
from the cache and writes it back: between the read and the write other processes and
threads read the same history, so 900 concurrent requests passed a 300/minute limit.
Counting must be a single atomic step where the counters live:

- with ``PODIUM_CACHE_URL=redis://...``, in Redis: ``SET key 0 EX window NX`` and ``INCR
  key`` in one MULTI/EXEC transaction (a key can never lose its expiry between the two);
- otherwise (the default file cache, or locmem), in the database every web process
  already shares: one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement
  (SQLite >= 3.35, PostgreSQL), which the database applies atomically. Django's file and
  database caches implement ``incr`` as get-then-set, so they cannot count; a file lock
  would hold only on one machine's local file system, while the database is shared by
  every web host of a many-machine deployment too.

Windows are fixed and start at a key's first hit: in one window at most ``limit`` hits
are allowed, whatever the number of processes, threads or hosts; a client that waits for
the window to end gets a fresh one (so at most ``2 * limit`` within any span of one
window that straddles two windows).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from podium.models import ThrottleCounter
from podium.units import format_duration

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Rate:
    """``limit`` hits per ``window_seconds`` seconds."""

    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str, *, setting: str = "rate") -> Rate:
        """Read "N/period" (period: second, minute, hour, day, or their first letter, as
        DRF writes rates: "300/minute"). Raise ImproperlyConfigured naming ``setting``."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*([smhd])[a-z]*\s*", text or "")
        if not match:
            raise ImproperlyConfigured(
                f"{setting}={text!r}: write a rate as N/second, N/minute, N/hour or N/day."
            )
        return cls(int(match[1]), PERIODS[match[2]])

    def __str__(self) -> str:
        names = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
        return f"{self.limit}/{names.get(self.window_seconds, f'{self.window_seconds}s')}"


@dataclass(frozen=True)
class Hit:
    """The outcome of one counted hit: the count in the window including this hit,
    whether it is within the limit, and seconds until the window ends."""

    count: int
    allowed: bool
    retry_after_seconds: float


def configured_rate(setting: str) -> Rate:
    """The rate a setting names (e.g. "PODIUM_SIGNUP_RATE"); ImproperlyConfigured if bad."""
    return Rate.parse(getattr(settings, setting), setting=setting)


def retry_text(outcome: Hit) -> str:
    """When to try again, for a message: "in 12 min", at least a second."""
    return f"in {format_duration(max(1, math.ceil(outcome.retry_after_seconds)))}"


def _key(scope: str, ident: str) -> str:
    key = f"throttle:{scope}:{ident}"
    if len(key) > MAX_KEY_LENGTH:
        key = f"throttle:{scope}:sha256:{hashlib.sha256(ident.encode()).hexdigest()}"
    return key


def _uses_redis() -> bool:
    return settings.CACHES["default"]["BACKEND"].endswith("RedisCache")


def _redis_incr(key: str, window_seconds: int, now: float) -> tuple[int, float]:
    cache_key = cache.make_and_validate_key(key)
    client = cache._cache.get_client(cache_key, write=True)  # type: ignore[attr-defined]
    pipe = client.pipeline(transaction=True)
    pipe.set(cache_key, 0, ex=window_seconds, nx=True)
    pipe.incr(cache_key)
    pipe.pttl(cache_key)
    _, count, ttl_ms = pipe.execute()
    return int(count), now + max(0, ttl_ms) / 1000


def _database_incr(key: str, window_seconds: int, now: float) -> tuple[int, float]:
    quote = connection.ops.quote_name
    table = quote(ThrottleCounter._meta.db_table)
    k, c, e = quote("key"), quote("count"), quote("expires_at")
    # Only this model's quoted identifiers are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({k}, {c}, {e}) VALUES (%s, 1, %s) "  # noqa: S608
        f"ON CONFLICT ({k}) DO UPDATE SET "
        f"{c} = CASE WHEN {table}.{e} <= %s THEN 1 ELSE {table}.{c} + 1 END, "
        f"{e} = CASE WHEN {table}.{e} <= %s THEN excluded.{e} ELSE {table}.{e} END "
        f"RETURNING {c}, {e}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key, now + window_seconds, now, now])
        count, expires_at = cursor.fetchone()
    return int(count), float(expires_at)


def hit(*, scope: str, ident: str, rate: Rate) -> Hit:
    """Count one hit of ``ident`` (a client address, a user id) in ``scope`` and say
    whether it is within ``rate``. Hits over the limit are counted too (a client that
    keeps hammering does not get through sooner)."""
    now = time.time()
    key = _key(scope, ident)
    incr = _redis_incr if _uses_redis() else _database_incr
    count, expires_at = incr(key, rate.window_seconds, now)
    return Hit(count, count <= rate.limit, max(0.0, expires_at - now))


def peek(*, scope: str, ident: str) -> int:
    """The hits of ``ident`` in ``scope`` in its current window (0 when none), uncounted."""
    key = _key(scope, ident)
    now = time.time()
    if _uses_redis():
        value = cache.get(key)
        return int(value or 0)
    row = ThrottleCounter.objects.filter(key=key, expires_at__gt=now).first()
    return row.count if row else 0


def purge_expired() -> int:
    """Delete the database counters whose window has ended (the periodic task
    podium.throttle_purge); the number deleted. Redis expires its keys itself."""
    deleted, _ = ThrottleCounter.objects.filter(expires_at__lte=time.time()).delete()
    return deleted
