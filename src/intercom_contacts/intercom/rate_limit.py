"""Intercom's rate-limit window as the last responses described it, shared by every thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping


class RateLimitGate:
    """Remembers the window's remaining calls from every response (`X-RateLimit-Remaining` and
    `-Reset`), so concurrent requests wait for the reset instead of spending calls Intercom would
    answer with 429."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset = 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        try:
            remaining = int(headers["X-RateLimit-Remaining"])
            reset = float(headers["X-RateLimit-Reset"])
        except (KeyError, TypeError, ValueError):
            return
        with self._lock:
            if reset > self._reset:
                self._remaining, self._reset = remaining, reset
            elif reset == self._reset and self._remaining is not None:
                self._remaining = min(self._remaining, remaining)

    def acquire(self) -> float:
        """Spend one call of the current window, or say how many seconds until the next one."""
        with self._lock:
            now = time.time()
            if self._remaining is None or now >= self._reset:
                return 0.0
            if self._remaining <= 0:
                return self._reset - now
            self._remaining -= 1
            return 0.0
