"""Request types for the views only a signed-in user reaches (for the type checker).

A view behind ``login_required`` (or the admin) or DRF's ``IsAuthenticated`` annotates its
request with one of these, so that ``request.user`` is a ``User``, never ``AnonymousUser``,
and can be handed to the services, which act for a signed-in user.
"""

from django.contrib.auth.models import User
from django.http import HttpRequest
from rest_framework.request import Request


class AuthenticatedHttpRequest(HttpRequest):
    """An HttpRequest whose user is signed in (``login_required`` views, admin actions)."""

    user: User


class AuthenticatedRequest(Request):
    """A DRF Request whose user is signed in (views with ``IsAuthenticated``)."""

    user: User
