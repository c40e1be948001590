"""Name the process that owns a run, so leftovers of a crashed worker can be recognised.

A token is ``<pid>-<start time in clock ticks since boot>``: a pid alone is reused, the
pair is not (until reboot, when every old run is an orphan anyway). Workers run on the
same host as the engine, so liveness is read from ``/proc``.
"""

from __future__ import annotations

import os
import re

_TOKEN = re.compile(r"^(\d+)-(\d+)$")


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields follow the last ')'.
    fields = data[data.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def owner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{_start_time(pid) or 0}"


def owner_alive(token: str) -> bool:
    """Return whether the process named by ``token`` still runs; unknown formats count as dead."""
    match = _TOKEN.match(token)
    if not match:
        return False
    pid, start = match.groups()
    return _start_time(int(pid)) == start
