"""Template context of every page: the count on the header's notification badge."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from competitions import selectors


def notifications(request: HttpRequest) -> dict[str, Any]:
    """``notification_count``: the signed-in user's unread notifications, counted only when
    a template reads it (one COUNT query; none for anonymous visitors)."""
    user = getattr(request, "user", None)

    def count() -> int:
        if user is None or not user.is_authenticated:
            return 0
        return selectors.notifications_unread_for_user(user=user).count()

    return {"notification_count": count}
