"""DRF glue shared by every API view."""

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from podium.errors import ApplicationError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer an ApplicationError with 400 and its message; leave the rest to DRF."""
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, **exc.extra}, status=400)
    return drf_exception_handler(exc, context)
