"""How long one call to Intercom may take: urllib3's `Retry` taught Intercom's rate-limit headers and
the invocation's deadline, and per-attempt timeouts that never run past that deadline.

The deadline is a `time.monotonic()` instant: the time the Lambda has left, less a margin to answer.
No attempt starts without `MIN_ATTEMPT_SECONDS` before it, no wait is taken that would pass it, and
each attempt's connect and read timeouts are cut to the time left, so a slow Intercom ends in the
service's own error answer instead of Lambda killing the invocation.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Mapping
from typing import Any, Self

import urllib3
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from intercom_contacts.errors import IntercomRateLimited
from intercom_contacts.intercom.rate_limit import Gate, intercom_now
from intercom_contacts.observability import MetricUnit, metrics

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The answers that show Intercom did not act on the request: it timed out reading it (408), refused
# it for the rate limit (429), or was unavailable (503). After a 500, 502 or 504 the request may have
# been carried out and only its answer lost: a lead is retried only after these.
NOT_CARRIED_OUT_STATUSES = frozenset({408, 429, 503})
MIN_ATTEMPT_SECONDS = 1.0  # an attempt with less time than this cannot get a useful answer
RETRY_AFTER_CAP_SECONDS = 300.0


class DeadlineTimeout(urllib3.Timeout):
    """Connect and read timeouts cut to the time left before `deadline` when an attempt reads them.

    urllib3 clones the timeout for every attempt (retries included) and reads each value just before
    it connects and just after it has sent the request, so every attempt gets at most what is left.
    """

    def __init__(self, *, connect: float, read: float, deadline: float) -> None:
        super().__init__(connect=connect, read=read)
        self.deadline = deadline

    def clone(self) -> DeadlineTimeout:
        return DeadlineTimeout(connect=self._connect, read=self._read, deadline=self.deadline)  # type: ignore[arg-type]

    @property
    def connect_timeout(self) -> float:
        return self._left(self._connect)

    @property
    def read_timeout(self) -> float:
        return self._left(self._read)

    def _left(self, configured: Any) -> float:
        # Never 0: urllib3 reads a 0 read timeout as "timed out already"; a tiny one times out at once.
        return max(0.001, min(float(configured), self.deadline - time.monotonic()))


def lost_answer(error: Exception | None) -> bool:
    """The request may have reached Intercom, but its answer did not reach us."""
    return isinstance(error, (ReadTimeoutError, ProtocolError))


class Turns:
    """One request's turns at the rate-limit gate: each attempt takes one before it leaves and gives
    it back once when it ends, answered or not, with the answer's headers if there was one."""

    def __init__(self, gate: Gate, deadline: float) -> None:
        self._gate = gate
        self._deadline = deadline
        self._held = False

    def take(self) -> None:
        wait_for_turn(self._gate, self._deadline)
        self._held = True

    def give_back(self, answer: urllib3.BaseHTTPResponse | None = None) -> None:
        """The attempt is over; after the first call for an attempt, this does nothing."""
        if self._held:
            self._held = False
            self._gate.release(None if answer is None else answer.headers)


class IntercomRetry(Retry):
    """urllib3's Retry with Intercom's reset header, equal-jitter backoff, and a hard deadline."""

    def __init__(
        self, *args: Any, deadline: float = math.inf, turns: Turns | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self.turns = turns
        self.planned_wait = 0.0

    def new(self, **kw: Any) -> Self:
        kw.setdefault("deadline", self.deadline)
        kw.setdefault("turns", self.turns)
        return super().new(**kw)

    def get_backoff_time(self) -> float:
        if not self.history:
            return 0.0
        ceiling = float(min(self.backoff_max, self.backoff_factor * 2 ** (len(self.history) - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311  # nosec B311 # jitter, not cryptography

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        return retry_after_seconds(response.status, response.headers, self.retry_after_max)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: urllib3.BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Self:
        if self.turns is not None:  # this attempt is over, whether or not another follows
            self.turns.give_back(response)
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = (response is not None and new.get_retry_after(response)) or new.get_backoff_time()
        if time.monotonic() + wait + MIN_ATTEMPT_SECONDS > self.deadline:
            reason = error or ResponseError(f"waiting {wait:.1f}s to retry leaves no time for an answer")
            raise MaxRetryError(_pool, url or "", reason)
        new.planned_wait = wait
        metrics.add_metric(name="IntercomRetries", unit=MetricUnit.Count, value=1)
        return new

    def sleep(self, response: urllib3.BaseHTTPResponse | None = None) -> None:
        if self.planned_wait > 0:
            time.sleep(self.planned_wait)
        if self.turns is not None:  # a retry is a call too: it takes its turn in the window
            self.turns.take()

    def lost_an_answer(self) -> bool:
        """An earlier attempt of this request was sent and its answer lost (a timeout or a drop)."""
        return any(lost_answer(entry.error) for entry in self.history)


def wait_for_turn(gate: Gate, deadline: float) -> None:
    """Wait until `gate` lets a call go; raise IntercomRateLimited if that would not leave time for
    an answer before `deadline`."""
    while (wait := gate.acquire()) > 0:
        if time.monotonic() + wait + MIN_ATTEMPT_SECONDS > deadline:
            raise IntercomRateLimited(
                "Intercom's rate limit is spent until its window resets.", retry_after=math.ceil(wait)
            )
        time.sleep(wait)


def retry_after_seconds(
    status: int, headers: Mapping[str, str], cap: float = RETRY_AFTER_CAP_SECONDS
) -> float | None:
    """How long Intercom asks us to wait: `Retry-After`, or the window's reset when it is spent (on
    Intercom's clock: the reset less the answer's `Date`)."""
    waits = []
    if (value := headers.get("Retry-After", "")).strip().isdigit():
        waits.append(float(value))
    if status == 429 or headers.get("X-RateLimit-Remaining") == "0":
        with contextlib.suppress(KeyError, ValueError):
            waits.append(float(headers["X-RateLimit-Reset"]) - intercom_now(headers))
    wait = max(waits, default=0.0)
    return min(wait, cap) if wait > 0 else None
