"""The one domain error that services raise for anything a user did wrong."""

from typing import Any


class ApplicationError(Exception):
    """A rule was broken; `message` says which and what to do. Mapped to HTTP 400."""

    def __init__(self, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class StorageUnavailable(OSError):
    """The file storage (an S3-compatible bucket) could not be reached or refused a
    request: the platform's fault, never the user's. Web requests answer 503
    (podium.middleware); a run is retried."""
