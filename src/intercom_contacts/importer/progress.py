"""The import's progress: one bar redrawn in place on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TextIO

Phase = Literal["reading", "sending"]
REDRAW_SECONDS = 0.1
LINE_SECONDS = 5.0
BAR_WIDTH = 24


@dataclass
class Tally:
    """Counts of rows so far. Reading checks every row; sending follows the valid ones to their end."""

    phase: Phase = "reading"
    read: int = 0
    queued: int = 0
    created: int = 0
    existing: int = 0
    updated: int = 0
    failed: int = 0
    rejected: int = 0
    duplicate: int = 0
    done: float = 0.0  # the fraction of the phase done, 0 to 1

    @property
    def finished(self) -> int:
        return self.created + self.existing + self.updated + self.failed

    def counters(self, separator: str, *, grouped: bool) -> str:
        names = ("read", "queued", "created", "existing", "updated", "failed", "rejected", "duplicate")
        return separator.join(f"{name} {getattr(self, name):{',' if grouped else ''}}" for name in names)


class Progress(ABC):
    """Rate and ETA of the current phase; subclasses decide when and how a line is shown."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self._phase: Phase | None = None
        self._started = 0.0
        self._units_at_start = 0

    @abstractmethod
    def show(self, tally: Tally) -> None:
        """Called often; shows the tally when it is time to."""

    @abstractmethod
    def close(self, tally: Tally) -> None:
        """Shows the last tally, whatever the time."""

    def _enter(self, tally: Tally, now: float) -> bool:
        """Start timing a new phase; True when the phase just changed."""
        if tally.phase == self._phase:
            return False
        self._phase, self._started, self._units_at_start = tally.phase, now, self._units(tally)
        return True

    def _units(self, tally: Tally) -> int:
        return tally.read if tally.phase == "reading" else tally.finished

    def _rate(self, tally: Tally, now: float) -> float:
        elapsed = now - self._started
        return (self._units(tally) - self._units_at_start) / elapsed if elapsed > 0 else 0.0

    def _eta(self, tally: Tally, now: float) -> str:
        if tally.done <= 0 or now <= self._started:
            return "-"
        if tally.done >= 1:
            return "0:00"
        seconds = round((now - self._started) * (1 - tally.done) / tally.done)
        hours, rest = divmod(seconds, 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class LiveBar(Progress):
    """A terminal: one line, redrawn with a carriage return, cut to the terminal's width."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stream, clock=clock)
        self._drawn = float("-inf")

    def show(self, tally: Tally) -> None:
        now = self.clock()
        if self._enter(tally, now) or now - self._drawn >= REDRAW_SECONDS:
            self._draw(tally, now)

    def close(self, tally: Tally) -> None:
        self._draw(tally, self.clock())
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, tally: Tally, now: float) -> None:
        filled = round(BAR_WIDTH * min(tally.done, 1.0))
        line = (
            f"{tally.phase:<7} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {tally.done:4.0%}  "
            f"{tally.counters('  ', grouped=True)}  {self._rate(tally, now):,.0f}/s  "
            f"ETA {self._eta(tally, now)}"
        )
        width = shutil.get_terminal_size().columns - 1
        self.stream.write("\r" + line[:width] + "\x1b[K")
        self.stream.flush()
        self._drawn = now


class ProgressLines(Progress):
    """Not a terminal (a log, a pipe, CI): a plain line every few seconds, and at each phase's start."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stream, clock=clock)
        self._printed = float("-inf")
        self._last: tuple[str, str, float] | None = None

    def show(self, tally: Tally) -> None:
        now = self.clock()
        if self._enter(tally, now) or now - self._printed >= LINE_SECONDS:
            self._print(tally, now)

    def close(self, tally: Tally) -> None:
        """The last line, unless the one already printed says the same."""
        if self._last != (tally.phase, tally.counters("", grouped=False), tally.done):
            self._print(tally, self.clock())

    def _print(self, tally: Tally, now: float) -> None:
        self._last = (tally.phase, tally.counters("", grouped=False), tally.done)
        self.stream.write(
            f"{tally.phase} {tally.done:.0%}: {tally.counters(', ', grouped=False)}; "
            f"{self._rate(tally, now):.0f} rows/s, ETA {self._eta(tally, now)}\n"
        )
        self.stream.flush()
        self._printed = now


def progress_for(stream: TextIO) -> Progress:
    return LiveBar(stream) if stream.isatty() else ProgressLines(stream)
