"""What a compute host can run at once, shared by its worker processes.

The host declares its capacity (CPUs, memory in bytes, GPUs); each run needs some of it
(the competition's limits, sent with the broker message). A run is taken only when its
needs fit beside the runs already reserved; reservations live in one JSON file under an
exclusive ``flock``, keyed by the reserving process (``pid-start``), so a reservation of
a process that died is dropped at the next look. A run that does not fit goes back to the
broker to wait (another host may take it); it never fails for want of capacity.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.owner import owner_alive, owner_token


@dataclass(frozen=True)
class Needs:
    """What one run holds while it runs: CPUs, memory (bytes), GPUs."""

    cpus: float
    memory_bytes: int
    gpus: int = 0

    @classmethod
    def from_message(cls, raw: Mapping[str, Any] | None) -> Needs:
        raw = raw or {}
        return cls(
            cpus=float(raw.get("cpus") or 0),
            memory_bytes=int(raw.get("memory_bytes") or 0),
            gpus=int(raw.get("gpus") or 0),
        )


@dataclass(frozen=True)
class CapacityLedger:
    """The host's ``total`` and its live reservations in ``path``."""

    path: Path
    total: Needs

    def fits_ever(self, needs: Needs) -> bool:
        """Whether the run fits this host at all (when nothing else runs)."""
        return (
            needs.cpus <= self.total.cpus
            and needs.memory_bytes <= self.total.memory_bytes
            and needs.gpus <= self.total.gpus
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "r+") as fh:
                try:
                    entries: dict[str, dict[str, Any]] = json.loads(fh.read() or "{}")
                except ValueError:
                    entries = {}
                entries = {k: v for k, v in entries.items() if owner_alive(k)}
                yield entries
                fh.seek(0)
                fh.truncate()
                fh.write(json.dumps(entries))
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def reserve(self, submission_id: int, needs: Needs) -> Iterator[bool]:
        """Hold ``needs`` for the block and yield True, or yield False when they do not fit
        now (nothing held). One reservation per process at a time."""
        me = owner_token()
        with self._locked() as entries:
            used = list(entries.values())
            fits = (
                sum(e["cpus"] for e in used) + needs.cpus <= self.total.cpus
                and sum(e["memory_bytes"] for e in used) + needs.memory_bytes
                <= self.total.memory_bytes
                and sum(e["gpus"] for e in used) + needs.gpus <= self.total.gpus
            )
            if fits:
                entries[me] = {
                    "submission": submission_id,
                    "cpus": needs.cpus,
                    "memory_bytes": needs.memory_bytes,
                    "gpus": needs.gpus,
                }
        try:
            yield fits
        finally:
            if fits:
                with self._locked() as entries:
                    entries.pop(me, None)

    def running(self) -> list[int]:
        """Submission ids holding a reservation now."""
        with self._locked() as entries:
            return sorted(int(e["submission"]) for e in entries.values())
