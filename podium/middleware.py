"""Answers for failures that are the platform's, not the user's."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from podium.errors import StorageUnavailable

logger = logging.getLogger(__name__)

STORAGE_MESSAGE = (
    "The platform's file storage is unreachable just now: our fault, not yours. Nothing "
    "was recorded for this request; try again in a few minutes."
)
RETRY_AFTER_SECONDS = 60


class StorageUnavailableMiddleware:
    """A request that met StorageUnavailable answers 503 with Retry-After and a message
    naming the platform as the party at fault (JSON under /api/ and /compute/), not a
    bare 500; the exception is logged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, StorageUnavailable):
            return None
        logger.error("storage unavailable for %s: %s", request.path, exception)
        response: HttpResponse
        if request.path.startswith(("/api/", "/compute/")):
            response = JsonResponse(
                {"detail": STORAGE_MESSAGE, "code": "storage_unavailable"}, status=503
            )
        else:
            response = HttpResponse(STORAGE_MESSAGE, status=503, content_type="text/plain")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
