"""A progress bar drawn with carriage returns on stderr (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from podium_cli.text import printable


def human_size(num: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num < 1024 or unit == "GB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    return f"{num:.1f} GB"  # pragma: no cover


class ProgressBar:
    """`label [#####-----]  42%  4.2 MB / 10.0 MB  1.3 MB/s`, redrawn at most 10 times a
    second; quiet when stderr is not a terminal unless `force` is set."""

    width = 30

    def __init__(
        self, total: int, label: str = "", stream: TextIO | None = None, force: bool = False
    ) -> None:
        self.total = max(total, 0)
        self.label = printable(label, keep="")  # a file name the server gave
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.done = 0
        self.start = time.monotonic()
        self.start_done = 0
        self._drawn = 0.0
        self._open = False  # a line is on screen that close() must end

    def resume_from(self, done: int) -> None:
        self.done = self.start_done = done
        self.draw(force=True)

    def update(self, done: int) -> None:
        self.done = min(done, self.total) if self.total else done
        self.draw()

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1 and self.done < self.total:
            return
        self._drawn = now
        self._open = True
        fraction = self.done / self.total if self.total else 1.0
        filled = int(self.width * fraction)
        rate = (self.done - self.start_done) / max(now - self.start, 1e-6)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'-' * (self.width - filled)}] "
            f"{fraction:4.0%}  {human_size(self.done)} / {human_size(self.total)}  "
            f"{human_size(rate)}/s "
        )
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (once), so that what follows starts on a line of its own."""
        if self._open:
            self.draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
