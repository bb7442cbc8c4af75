"""A progress bar on stderr with no dependency: redrawn in place on a terminal, a line per 10 %
otherwise (so logs of a CI job stay readable)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

REDRAW_EVERY_S = 0.1
WIDTH = 30


class Progress:
    def __init__(self, total: int, label: str, stream: TextIO | None = None, enabled: bool = True):
        self.total = max(0, total)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.total > 0
        self.done = 0
        self._lock = threading.Lock()
        self._began = time.monotonic()
        self._drawn_at = 0.0
        self._decile = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, count: int = 1) -> None:
        """Thread-safe: called by the workers as each task is answered."""
        with self._lock:
            self.done = min(self.total, self.done + count)
            if self.enabled:
                self._draw(final=self.done >= self.total)

    def close(self) -> None:
        with self._lock:
            if self.enabled and self._tty:
                self.stream.write("\n")
                self.stream.flush()
            self.enabled = False

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._began, 1e-9)
        filled = WIDTH * self.done // self.total if self.total else WIDTH
        bar = "#" * filled + "." * (WIDTH - filled)
        percent = 100 * self.done // self.total if self.total else 100
        return (
            f"{self.label} [{bar}] {self.done}/{self.total} {percent:3d}% "
            f"{self.done / elapsed:.0f}/s"
        )

    def _draw(self, final: bool) -> None:
        now = time.monotonic()
        if self._tty:
            if final or now - self._drawn_at >= REDRAW_EVERY_S:
                self.stream.write("\r" + self.line())
                self.stream.flush()
                self._drawn_at = now
            return
        decile = 10 * self.done // self.total
        if decile > self._decile:
            self._decile = decile
            self.stream.write(self.line() + "\n")
            self.stream.flush()
