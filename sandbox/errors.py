"""Errors raised by the sandbox, split by whose fault they are.

Callers turn :class:`InvalidImage` into a participant-facing failure (``invalid_image``)
and retry on :class:`EngineError` (``platform_error``), so the split decides whether a
team is charged for a run: keep it honest.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base class; ``message`` is the text shown to whoever has to act on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidImage(SandboxError):
    """The upload is not a usable image: the participant's fault, not retried."""


class EngineError(SandboxError):
    """The Docker engine failed or is unreachable: the platform's fault, retry later."""
