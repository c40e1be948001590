"""podium.throttling's counter on its own: rates, windows, the purge of ended windows.
(Its attack test, concurrent requests against gunicorn on the database and on Redis, is
tests/web/test_accounts_security.py.)"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from podium import throttling
from podium.models import ThrottleCounter
from podium.tasks import purge_throttle_counters
from podium.throttling import Rate

pytestmark = pytest.mark.django_db


def test_rates_read_as_drf_writes_them_and_bad_ones_name_the_setting() -> None:
    assert Rate.parse("300/minute") == Rate(300, 60)
    assert Rate.parse("20/h") == Rate(20, 3600)
    assert str(Rate.parse("50/day")) == "50/day"
    with pytest.raises(ImproperlyConfigured, match="PODIUM_SIGNUP_RATE='lots'"):
        Rate.parse("lots", setting="PODIUM_SIGNUP_RATE")


def test_hits_past_the_limit_are_refused_until_the_window_ends() -> None:
    rate = Rate(2, 3600)
    hits = [throttling.hit(scope="t", ident="a", rate=rate) for _ in range(4)]
    assert [(h.count, h.allowed) for h in hits] == [(1, True), (2, True), (3, False), (4, False)]
    assert 3590 < hits[-1].retry_after_seconds <= 3600
    assert throttling.hit(scope="t", ident="b", rate=rate).allowed  # another client
    assert throttling.peek(scope="t", ident="a") == 4

    ThrottleCounter.objects.filter(key="throttle:t:a").update(expires_at=0)  # the window ends
    assert throttling.peek(scope="t", ident="a") == 0
    fresh = throttling.hit(scope="t", ident="a", rate=rate)
    assert (fresh.count, fresh.allowed) == (1, True)


def test_the_periodic_purge_drops_only_ended_windows() -> None:
    rate = Rate(5, 3600)
    for ident in ("old", "live"):
        throttling.hit(scope="t", ident=ident, rate=rate)
    ThrottleCounter.objects.filter(key="throttle:t:old").update(expires_at=0)

    assert purge_throttle_counters() == 1
    assert list(ThrottleCounter.objects.values_list("key", flat=True)) == ["throttle:t:live"]


def test_long_client_keys_are_hashed_to_fit() -> None:
    throttling.hit(scope="api", ident="x" * 500, rate=Rate(1, 60))
    (key,) = ThrottleCounter.objects.values_list("key", flat=True)
    assert key.startswith("throttle:api:sha256:") and len(key) <= 200
