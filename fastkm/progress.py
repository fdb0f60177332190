"""A one-line progress display for long fits and K selection (the command line's ``-v``).

It draws only on a terminal and only when asked, so pipelines, logs and
notebooks stay clean; the library itself reports through ``logging``.

>>> import io
>>> bar = ProgressBar("fit", enabled=True, stream=io.StringIO())  # not a terminal: draws nothing
>>> bar.active
False
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

__all__ = ["ProgressBar", "ProgressAwareHandler", "make_room"]

_drawing: "ProgressBar | None" = None  # the bar whose line is on the terminal now


class ProgressBar:
    """``label [#####-----] done/total  key=value ...  1.2 s`` redrawn in place on ``stream``.

    Redraws at most ten times a second (the last update of a run is always
    drawn by :meth:`close`). Use as a context manager, or call :meth:`close`.
    """

    width = 24

    def __init__(self, label: str, total: int | None = None, *, enabled: bool = True, stream: TextIO | None = None):
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.active = bool(enabled and isatty is not None and isatty())
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._line = ""
        self._pending = ""

    def update(self, done: int, total: int | None = None, **fields: Any) -> None:
        """Show ``done`` of ``total`` (or of the total given at creation) and the given fields."""
        if not self.active:
            return
        total = self.total if total is None else total
        if total:
            filled = min(self.width, round(self.width * done / total))
            progress = f"[{'#' * filled}{'-' * (self.width - filled)}] {done}/{total}"
        else:
            progress = f"{done}"
        extra = "  ".join(f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value}" for key, value in fields.items())
        self._pending = "  ".join(part for part in (f"{self.label} {progress}", extra, f"{time.perf_counter() - self.start:.1f} s") if part)
        now = time.perf_counter()
        if now - self._last_draw >= 0.1:
            self._draw()
            self._last_draw = now

    def _draw(self) -> None:
        global _drawing
        line = self._pending
        padding = " " * max(0, len(self._line) - len(line))
        self.stream.write(f"\r{line}{padding}")
        self.stream.flush()
        self._line = line
        _drawing = self

    def interrupt(self) -> None:
        """End the bar's line so that other output starts on a fresh one (the bar redraws below it)."""
        global _drawing
        if self._line:
            self.stream.write("\n")
            self.stream.flush()
            self._line = ""
        if _drawing is self:
            _drawing = None

    def close(self) -> None:
        """Draw the last state and end the line."""
        if self.active and self._pending:
            self._draw()
            self.interrupt()
        self.active = False

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def make_room() -> None:
    """End the line of the progress bar on the terminal, if one is drawn, so other output starts afresh."""
    if _drawing is not None:
        _drawing.interrupt()


class ProgressAwareHandler(logging.StreamHandler):
    """A logging handler that first moves a progress bar out of the way, so lines never mix."""

    def emit(self, record: logging.LogRecord) -> None:
        make_room()
        super().emit(record)
