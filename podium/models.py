"""The platform's own tables: atomic counters for rate limits (see podium.throttling)."""

from __future__ import annotations

from django.db import models


class ThrottleCounter(models.Model):
    """How many hits one key (scope and client) has had in its current window.

    Written only by podium.throttling with one atomic statement; a row whose window has
    ended is reset by the next hit or pruned.
    """

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.FloatField(db_index=True, help_text="End of the window, Unix seconds.")

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
