"""Faults injected into the sandbox: the next answers failed, delayed or dropped, a random failure
rate, and a latency added to every answer."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

from local.intercom_sandbox.schemas import Answer, intercom_error


@dataclass
class Fault:
    kind: str  # fail | delay | drop
    count: int
    status: int = 503
    seconds: float = 0.0
    after_handling: bool = False  # a delay: Intercom does the work at once, its answer comes late
    mid_response: bool = False
    method: str | None = None
    path_prefix: str = "/contacts"
    path: str | None = None  # only this path, or route (`/contacts/{id}/tags`), instead of the prefix
    body: bytes | None = None

    def matches(self, method: str, path: str, route: str) -> bool:
        if self.method not in (None, method):
            return False
        return self.path in (path, route) if self.path is not None else path.startswith(self.path_prefix)

    def failure(self) -> Answer:
        """The answer a `fail` fault sends instead of Intercom's."""
        answer = intercom_error(self.status, _code_for(self.status), f"Injected failure {self.status}")
        if self.body is not None:
            answer.body = self.body
        return answer


class Faults:
    """Thread-safe: each connection takes its fault on its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self.latency = 0.0
        self._failure_rate, self._failure_status = 0.0, 500
        self._random = random.Random()  # noqa: S311  # nosec B311 # fault injection, not cryptography

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def set_failure_rate(self, probability: float, status: int, seed: int | None) -> None:
        with self._lock:
            self._failure_rate, self._failure_status = probability, status
            if seed is not None:
                self._random.seed(seed)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._failure_rate = 0.0
            self.latency = 0.0

    def take(self, method: str, path: str, route: str) -> Fault | None:
        """The fault this request, to `path` by `route` (`/contacts/{id}/tags`), meets, if any: the
        first queued one that matches, else maybe a random failure."""
        with self._lock:
            for fault in self._queue:
                if fault.matches(method, path, route):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._queue.remove(fault)
                    return fault
            if self._failure_rate and self._random.random() < self._failure_rate:
                return Fault("fail", 1, self._failure_status)
        return None


def _code_for(status: int) -> str:
    return {429: "rate_limit_exceeded", 401: "unauthorized", 403: "forbidden"}.get(
        status, "service_unavailable" if status >= 500 else "parameter_invalid"
    )
