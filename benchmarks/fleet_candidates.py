"""The ways of sharing Intercom's rate limit that `python -m benchmarks.fleet --compare` measures
against each other. Only `paced` ships (`intercom/rate_limit.py`); the others are prototypes kept
here so that the comparison in docs/throughput.md can be run again.

- `header`: what the worker did before: spend the window as it comes, stop at `Remaining` = 0.
- `paced`: `PacedGate`, what the worker does now: pace from the headers, learn the container's share.
- `divided`: pace at the window's allowance (less the API's share) divided by the fleet size the
  template sets (`WorkerMaximumConcurrency`); no learning, no store.
- `bucket`: a shared counter per window in the idempotency table: one conditional `UpdateItem` per
  call takes a call of the workers' allowance (from `X-RateLimit-Limit`, less the API's share); when
  the allowance is taken, wait for the reset. If DynamoDB fails, fall back to the headers alone.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts.intercom.rate_limit import WINDOW_SECONDS, Gate, PacedGate, RateLimitGate

NAMES = ("header", "paced", "divided", "bucket")
BUILT: list[Gate] = []  # the gate each container built, to read what it measured


class _Window:
    """The current window as the headers last described it: limit, remaining, reset (predicted
    forward by whole windows when it has passed)."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.remaining = 0
        self.reset = 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        try:
            limit = int(headers["X-RateLimit-Limit"])
            remaining = int(headers["X-RateLimit-Remaining"])
            reset = float(headers["X-RateLimit-Reset"])
        except (KeyError, TypeError, ValueError):
            return
        self.limit = limit
        if reset > self.reset:
            self.reset, self.remaining = reset, remaining
        elif reset == self.reset:
            self.remaining = min(self.remaining, remaining)

    def roll(self, now: float) -> None:
        if self.limit is not None and now >= self.reset:
            self.reset += WINDOW_SECONDS * (math.floor((now - self.reset) / WINDOW_SECONDS) + 1)
            self.remaining = self.limit


class DividedGate:
    """Each container paces at (limit x (1 - reserve)) / fleet_size per window, evenly."""

    def __init__(self, reserve: float, fleet_size: int) -> None:
        self._reserve, self._fleet = reserve, fleet_size
        self._window = _Window()
        self._lock = threading.Lock()
        self._next_call = 0.0

    def release(self, headers: Mapping[str, str] | None) -> None:
        with self._lock:
            self._window.observe(headers or {})

    def acquire(self) -> float:
        now = time.time()
        with self._lock:
            window = self._window
            if window.limit is None:
                return 0.0
            window.roll(now)
            if window.remaining - self._reserve * window.limit < 1:
                return window.reset - now
            if now < self._next_call:
                return self._next_call - now
            interval = WINDOW_SECONDS * self._fleet / (window.limit * (1 - self._reserve))
            self._next_call = max(self._next_call, now) + interval
            window.remaining -= 1
            return 0.0


class SharedBucketGate:
    """One conditional UpdateItem per call on `ratelimit#<reset>` in the idempotency table."""

    def __init__(self, reserve: float, dynamodb: Any, table: str) -> None:
        self._reserve, self._dynamodb, self._table = reserve, dynamodb, table
        self._window = _Window()
        self._fallback = RateLimitGate()
        self._lock = threading.Lock()
        self._spent_until = 0.0  # the shared allowance is taken until this reset
        self.store_seconds: list[float] = []  # time spent on DynamoDB, per call

    def release(self, headers: Mapping[str, str] | None) -> None:
        self._fallback.release(headers)
        with self._lock:
            self._window.observe(headers or {})

    def acquire(self) -> float:
        now = time.time()
        with self._lock:
            window = self._window
            if window.limit is None:
                return 0.0
            window.roll(now)
            if now < self._spent_until:
                return self._spent_until - now
            reset, allowance = window.reset, int(window.limit * (1 - self._reserve))
        started = time.perf_counter()
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": f"ratelimit#{int(reset)}"}},
                UpdateExpression="ADD taken :one SET expiration = :expiration",
                ConditionExpression="attribute_not_exists(taken) OR taken < :allowance",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":allowance": {"N": str(allowance)},
                    ":expiration": {"N": str(int(reset) + 86_400)},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                return self._fallback.acquire()
            with self._lock:
                self._spent_until = max(self._spent_until, reset)
            return max(0.0, reset - time.time())
        except BotoCoreError:
            return self._fallback.acquire()
        finally:
            self.store_seconds.append(time.perf_counter() - started)
        return 0.0


def factory(name: str, *, fleet_size: int) -> Callable[[Any], Gate]:
    """What `services.rate_limit_gate` becomes in a benchmark container running candidate `name`."""

    def build(settings: Any) -> Gate:
        reserve = (settings.api_rate_limit_share or 0) / 100
        gate: Gate
        if name == "header":
            gate = RateLimitGate()
        elif name == "paced":
            gate = PacedGate(reserve)
        elif name == "divided":
            gate = DividedGate(reserve, fleet_size)
        elif name == "bucket":
            from intercom_contacts.services import dynamodb_client

            gate = SharedBucketGate(reserve, dynamodb_client(), settings.idempotency_table_name)
        else:
            raise ValueError(f"unknown candidate {name}")
        BUILT.append(gate)
        return gate

    return build
