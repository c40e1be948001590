"""Who is calling: the client's address as seen through the platform's trusted proxies.

One function for every place that keys on an address (the API throttle, the login
lock-out), so a client cannot pick its own address in one of them. Behind N trusted
proxies (settings.PODIUM_TRUSTED_PROXIES), each appends the address it received the
request from to X-Forwarded-For; the client is the N-th entry from the right, and
whatever a client wrote further left is ignored. With no trusted proxy (the default)
X-Forwarded-For is ignored altogether and the socket's peer is the client.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from podium import throttling


def client_address(request: HttpRequest) -> str:
    """The caller's IP address as a string ("" when the server gave none)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = settings.PODIUM_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return hops[-min(proxies, len(hops))]


class _AtomicCountMixin:
    """DRF's throttle keyed on `client_address`, counting with podium.throttling's atomic
    counter instead of DRF's get-then-set history in the cache (which let concurrent
    requests through far over the limit)."""

    rate: str | None
    num_requests: int
    duration: int

    def get_ident(self, request) -> str:
        return client_address(request)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if key is None:
            return True
        outcome = throttling.hit(
            scope="api", ident=key, rate=throttling.Rate(self.num_requests, self.duration)
        )
        self._retry_after = outcome.retry_after_seconds
        return outcome.allowed

    def wait(self) -> float | None:
        return getattr(self, "_retry_after", None)


class AnonThrottle(_AtomicCountMixin, AnonRateThrottle):
    """DRF's anonymous throttle, keyed on `client_address`, counted atomically."""


class UserThrottle(_AtomicCountMixin, UserRateThrottle):
    """DRF's per-user throttle (anonymous callers by `client_address`), counted atomically."""
