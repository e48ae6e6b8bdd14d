"""Intercom's rate-limit window as the responses describe it, shared by every thread of a container.

Intercom gives one budget per app, shared by every container of the worker, the API function and
anything else using the token; each answer carries `X-RateLimit-Limit` (the window's allowance),
`X-RateLimit-Remaining` (what is left of it, everybody's calls counted) and `X-RateLimit-Reset` (Unix
seconds). Those headers are the only shared view that needs no coordination store, so both gates are
built on them:

- `RateLimitGate` (the API): calls go as they come; only a spent window is waited out.
- `PacedGate` (the worker): calls are spread over the window, and the API's share of it is left.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Protocol

WINDOW_SECONDS = 10.0  # Intercom's; the gap between successive resets overrides it
PROBE_SECONDS = 1.0  # knowing nothing of the window, one call at a time, until an answer or this long
PROBE_POLL_SECONDS = 0.05
# The least share a container paces at: a long drain cannot starve one container (shares only drift).
MIN_SHARE = 0.01


class Gate(Protocol):
    def acquire(self) -> float:
        """Spend one call now (0.0), or say how many seconds to wait before asking again."""

    def release(self, headers: Mapping[str, str] | None) -> None:
        """The call `acquire` let go is over: learn from its answer's headers, if it had an answer
        (None: it timed out or its connection dropped). Called once for each call that went."""


def intercom_offset(headers: Mapping[str, str], now: float) -> float:
    """Intercom's clock less ours, as the answer's `Date` says (0 without one): `X-RateLimit-Reset` is
    on Intercom's clock, and ours may be seconds off. `Date` is in whole seconds and left Intercom
    before `now`, so this errs towards Intercom's clock being behind: a reset comes later, never early."""
    try:
        return parsedate_to_datetime(headers["Date"]).timestamp() - now
    except (KeyError, TypeError, ValueError, IndexError):
        return 0.0


def intercom_now(headers: Mapping[str, str]) -> float:
    """The time on Intercom's clock as it sent `headers` (ours, without a `Date`)."""
    now = time.time()
    return now + intercom_offset(headers, now)


class RateLimitGate:
    """Remembers the window's remaining calls from every response (`X-RateLimit-Remaining` and
    `-Reset`), so concurrent requests wait for the reset instead of spending calls Intercom would
    answer with 429."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset = 0.0  # on Intercom's clock
        self._offset = 0.0  # Intercom's clock less ours

    def release(self, headers: Mapping[str, str] | None) -> None:
        if headers is None:
            return
        try:
            remaining = int(headers["X-RateLimit-Remaining"])
            reset = float(headers["X-RateLimit-Reset"])
        except (KeyError, TypeError, ValueError):
            return
        offset = intercom_offset(headers, time.time())
        with self._lock:
            if reset > self._reset:
                self._remaining, self._reset, self._offset = remaining, reset, offset
            elif reset == self._reset and self._remaining is not None:
                self._remaining = min(self._remaining, remaining)
                self._offset = max(self._offset, offset)  # as PacedGate does

    def acquire(self) -> float:
        """Spend one call of the current window, or say how many seconds until the next one."""
        with self._lock:
            now = time.time() + self._offset
            if self._remaining is None or now >= self._reset:
                return 0.0
            if self._remaining <= 0:
                return self._reset - now
            self._remaining -= 1
            return 0.0


class PacedGate:
    """One worker container's calls, spread so that the whole fleet spends each window evenly and
    leaves `reserve` of it (a fraction: the API's share) when it resets, with no coordination store.

    On each answer the container sets its pace: the time left until the reset, over what the window
    still holds for the workers (`Remaining` less the reserve) times this container's share of the
    fleet's calls. `Remaining` counts every caller's calls, so a fleet that spends too fast sees less
    left and slows down, one that spends too slowly speeds up; whatever the shares add up to, the
    workers reach the reserve about when the window resets, and accurate shares make the spending
    even. A container's share is learned from its own answers: its calls over everybody's, as of its
    latest answer in a window, averaged with its earlier windows. A new window starts at the last
    pace, not with a burst; knowing nothing yet (a cold container), it sends one call at a time until
    one is answered. docs/throughput.md measures it against the alternatives.
    """

    def __init__(self, reserve: float = 0.0, *, clock: Callable[[], float] = time.time) -> None:
        self._reserve = reserve
        self._clock = clock
        self._lock = threading.Lock()
        self._limit: int | None = None
        self._reset = 0.0  # when the window resets, on Intercom's clock: from the headers, or predicted
        self._predicted = False  # the current window is predicted: no answer has described it yet
        self._last_reset_seen = 0.0
        self._window = WINDOW_SECONDS
        self._window_learned = False
        self._remaining = 0  # the lowest Remaining seen in this window, less own calls since
        self._in_flight = 0  # own calls sent and not yet over, answered or not
        self._offset = 0.0  # Intercom's clock less ours, from the latest answer's Date
        self._answered = 0  # own calls answered in this window
        self._sample: float | None = None  # own part of the window's calls, as of the latest answer
        self._share: float | None = None  # own part of the fleet's calls, learned over past windows
        self._interval = 0.0  # seconds between own calls
        self._next_call = 0.0
        self._probe_until = 0.0

    def release(self, headers: Mapping[str, str] | None) -> None:
        window = _window_of(headers)
        offset = intercom_offset(headers or {}, self._clock())
        with self._lock:
            # Whatever the answer, or none at all: a call that never freed its slot would count
            # against every later window, until the container stopped calling Intercom at all.
            self._in_flight = max(0, self._in_flight - 1)
            if window is None:
                return
            limit, remaining, reset = window
            self._probe_until = 0.0
            self._limit = limit
            if reset > self._last_reset_seen:
                if self._last_reset_seen:
                    gap = reset - self._last_reset_seen
                    self._window = min(self._window, gap) if self._window_learned else gap
                    self._window_learned = True
                self._last_reset_seen = reset
                self._offset = offset
            elif reset == self._last_reset_seen:
                # Each Date says Intercom's clock was at least that far ahead: keep the window's
                # closest. Afresh each window, so a step of our own clock is forgotten within one.
                self._offset = max(self._offset, offset)
            now = self._now()
            if reset == self._reset:
                self._remaining = min(self._remaining, remaining)
                self._predicted = False
            elif reset > self._reset or (self._predicted and reset > now):
                if not self._predicted:
                    self._close_window()
                self._reset, self._remaining, self._predicted = reset, remaining, False
            else:
                return  # a late answer from a window that is over
            self._answered += 1
            self._sample = self._answered / max(limit - remaining, self._answered)
            self._pace(now, limit)

    def acquire(self) -> float:
        with self._lock:
            now = self._now()
            if self._limit is None:
                if now < self._probe_until:
                    return min(PROBE_POLL_SECONDS, self._probe_until - now)
                self._probe_until = now + PROBE_SECONDS
                return 0.0
            if now >= self._reset:
                self._predict_window(now, self._limit)
            if self._remaining - self._others_in_flight() - self._reserve * self._limit < 1:
                return self._reset - now
            if now < self._next_call:
                return self._next_call - now
            # Turns missed while idle are not made up in a burst. A new window paces afresh, so a slow
            # pace at the end of one never runs into the next.
            self._next_call = min(self._reset, max(self._next_call, now) + self._interval)
            self._remaining -= 1
            self._in_flight += 1
            return 0.0

    def _now(self) -> float:
        """The time on Intercom's clock, which the window's reset is on."""
        return self._clock() + self._offset

    def _others_in_flight(self) -> float:
        """The rest of the fleet's calls on their way, as many for its share as this container's own:
        `Remaining` counts a call when it arrives, and near the reset a fleet that spends to the last
        call it knows of sends more than the window holds."""
        share = self._share or self._sample or 1.0
        return self._in_flight * (1 / share - 1)

    def _pace(self, now: float, limit: int) -> None:
        """Space own calls so that the fleet spends what the window holds for it by the reset. Set
        only from an answer (or a new window), and held until the next: a view of `Remaining` ages as
        other containers spend, and pacing from an aged view would speed up as the reset nears."""
        left = self._remaining - self._reserve * limit
        share = self._share or self._sample or 1.0  # a cold container: its first window's answers
        self._interval = (self._reset - now) / (left * share) if left >= 1 else math.inf

    def _close_window(self) -> None:
        """Learn this container's share from the window that ends, if it made calls in it."""
        if self._sample is not None:
            learned = self._sample if self._share is None else (self._share + self._sample) / 2
            self._share = max(MIN_SHARE, learned)
        self._answered, self._sample = 0, None

    def _predict_window(self, now: float, limit: int) -> None:
        """The window has reset and no answer describes the new one yet: it is as long as ever, and
        full but for the fleet's calls still on their way, which it will count."""
        on_their_way = self._in_flight + self._others_in_flight()
        self._close_window()
        self._reset += self._window * (math.floor((now - self._reset) / self._window) + 1)
        self._remaining, self._predicted = limit - math.ceil(on_their_way), True
        self._pace(now, limit)


def _window_of(headers: Mapping[str, str] | None) -> tuple[int, int, float] | None:
    """(limit, remaining, reset) from an answer's `X-RateLimit-*` headers, if it has them."""
    if headers is None:
        return None
    try:
        return (
            int(headers["X-RateLimit-Limit"]),
            int(headers["X-RateLimit-Remaining"]),
            float(headers["X-RateLimit-Reset"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
