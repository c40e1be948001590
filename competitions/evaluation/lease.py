"""Keep a claimed run's lease alive while this process works on it."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from django.db import close_old_connections, connection

from competitions.evaluation import transitions

logger = logging.getLogger(__name__)


class LeaseKeeper(threading.Thread):
    """Renew a submission's lease every ``renew_seconds`` in a background thread.

    Used as a context manager around the work on a claimed run. ``lost`` becomes true when
    a renewal finds the run no longer ours (cancelled, or reaped after the lease expired
    because this process stalled): the caller stops the run and records nothing. A failed
    renewal (database unreachable) is retried at the next tick; the lease expires on its own
    if this process dies, which is the point.
    """

    def __init__(
        self, *, submission_id: int, owner: str, lease_seconds: float, renew_seconds: float
    ) -> None:
        super().__init__(name=f"lease-{submission_id}", daemon=True)
        self.submission_id = submission_id
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.renew_seconds = max(0.1, renew_seconds)
        self._stop_event = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.renew_seconds):
                try:
                    close_old_connections()
                    renewed = transitions.heartbeat(
                        submission_id=self.submission_id,
                        owner=self.owner,
                        lease_seconds=self.lease_seconds,
                    )
                except Exception:  # the database may be briefly away; the next tick retries
                    logger.warning("lease renewal of %s failed", self.submission_id, exc_info=True)
                    continue
                if not renewed:
                    if not self._stop_event.is_set():
                        logger.info(
                            "submission %s: lease no longer held (recorded, cancelled or reaped)",
                            self.submission_id,
                        )
                    self.lost.set()
                    return
        finally:
            connection.close()

    def __enter__(self) -> LeaseKeeper:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_event.set()
        self.join(timeout=30)
