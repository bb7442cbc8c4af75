"""A progress bar on stderr: rich's, redrawn in place, on a terminal; anywhere else (a pipe, a CI
log) one plain line per 10 %, so logs stay readable and hold no cursor movements."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
)
from rich.progress import Progress as RichProgress
from rich.progress import Task as RichTask
from rich.text import Text

from aiexec.cli.tables import safe_console
from shared.terminal import printable

WIDTH = 30  # of the plain bar


class RateColumn(ProgressColumn):
    """Items per second since the start (rich's speed column counts bytes)."""

    def render(self, task: RichTask) -> Text:
        elapsed = task.elapsed or 0.0
        return Text(f"{task.completed / elapsed:.0f}/s" if elapsed > 0 else "-/s")


class Progress:
    """`advance` is thread-safe (the workers call it as each task is answered); `close`, or
    leaving the `with` block, ends the bar (on a terminal: restores the cursor)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, enabled: bool = True):
        self.total = max(0, total)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.total > 0
        self.done = 0
        self._lock = threading.Lock()
        self._began = time.monotonic()
        self._decile = -1
        self._bar: RichProgress | None = None
        self._task = TaskID(0)
        if self.enabled and bool(getattr(self.stream, "isatty", lambda: False)()):
            self._bar = self._start_bar()

    def _start_bar(self) -> RichProgress:
        """Rich's bar; the label is the caller's, shown as text all the same (no markup)."""
        bar = RichProgress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=WIDTH),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            RateColumn(),
            console=safe_console(self.stream, width=None),  # redrawn: fit the terminal
        )
        self._task = bar.add_task(printable(self.label), total=self.total)
        bar.start()
        return bar

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self.done = min(self.total, self.done + count)
            if not self.enabled:
                return
            if self._bar is not None:
                self._bar.update(self._task, completed=self.done)
                return
            decile = 10 * self.done // self.total
            if decile > self._decile:
                self._decile = decile
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()  # draws the final state, then a newline
                self._bar = None
            self.enabled = False

    def line(self) -> str:
        """The plain form: `label [####......] done/total  pp% rate/s`."""
        elapsed = max(time.monotonic() - self._began, 1e-9)
        filled = WIDTH * self.done // self.total if self.total else WIDTH
        bar = "#" * filled + "." * (WIDTH - filled)
        percent = 100 * self.done // self.total if self.total else 100
        return (
            f"{self.label} [{bar}] {self.done}/{self.total} {percent:3d}% "
            f"{self.done / elapsed:.0f}/s"
        )
