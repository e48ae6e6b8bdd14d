"""Intercom's contacts API over urllib3: retries, rate limits and error mapping live here, nowhere else.

- One module-level PoolManager keeps connections alive across warm invocations.
- `IntercomRetry` is urllib3's `Retry`, taught Intercom's `X-RateLimit-*` headers and the
  invocation's deadline: it never sleeps past the time the Lambda has left.
- `RateLimitGate` remembers the window's remaining calls from every response, so concurrent
  requests wait for the reset instead of spending calls Intercom would answer with 429.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import random
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol, Self
from urllib.parse import quote

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util.retry import Retry

from intercom_contacts.config import Settings
from intercom_contacts.errors import (
    ContactConflict,
    ContactError,
    IntercomAuthFailed,
    IntercomBadResponse,
    IntercomRateLimited,
    IntercomRejected,
    IntercomTimeout,
    IntercomUnavailable,
    OutcomeUnknown,
)
from intercom_contacts.observability import MetricUnit, metrics

USER_AGENT = "intercom-contacts-lambda/0.1"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CONFLICT_ID = re.compile(
    r"(?P<archived>archived )?contact matching those details already exists with id=(?P<id>\w+)"
)

POOL = urllib3.PoolManager(num_pools=4, maxsize=16, retries=False)


class TokenSource(Protocol):
    def get(self, *, refresh: bool = False) -> str: ...


class RateLimitGate:
    """Intercom's rate-limit window as the last responses described it, shared by every thread."""

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


class IntercomRetry(Retry):
    """urllib3's Retry with Intercom's reset header, equal-jitter backoff, and a hard deadline."""

    def __init__(
        self, *args: Any, deadline: float = math.inf, gate: RateLimitGate | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self.gate = gate
        self.planned_wait = 0.0

    def new(self, **kw: Any) -> Self:
        kw.setdefault("deadline", self.deadline)
        kw.setdefault("gate", self.gate)
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
        if response is not None and self.gate is not None:
            self.gate.observe(response.headers)
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = (response is not None and new.get_retry_after(response)) or new.get_backoff_time()
        if time.monotonic() + wait >= self.deadline:
            reason = error or ResponseError(f"waiting {wait:.1f}s to retry would pass the deadline")
            raise MaxRetryError(_pool, url or "", reason)
        new.planned_wait = wait
        metrics.add_metric(name="IntercomRetries", unit=MetricUnit.Count, value=1)
        return new

    def sleep(self, response: urllib3.BaseHTTPResponse | None = None) -> None:
        if self.planned_wait > 0:
            time.sleep(self.planned_wait)


def retry_after_seconds(status: int, headers: Mapping[str, str], cap: float = 300.0) -> float | None:
    """How long Intercom asks us to wait: `Retry-After`, or the window's reset when it is spent."""
    waits = []
    if (value := headers.get("Retry-After", "")).strip().isdigit():
        waits.append(float(value))
    if status == 429 or headers.get("X-RateLimit-Remaining") == "0":
        with contextlib.suppress(KeyError, ValueError):
            waits.append(float(headers["X-RateLimit-Reset"]) - time.time())
    wait = max(waits, default=0.0)
    return min(wait, cap) if wait > 0 else None


class IntercomClient:
    def __init__(
        self,
        settings: Settings,
        token: TokenSource,
        *,
        pool: urllib3.PoolManager = POOL,
        gate: RateLimitGate | None = None,
    ) -> None:
        self._settings = settings
        self._token = token
        self._pool = pool
        self._gate = gate or RateLimitGate()

    def create_contact(self, body: Mapping[str, Any], *, deadline: float, dedupes: bool) -> dict[str, Any]:
        """`POST /contacts`. `dedupes` says whether Intercom answers a repeat with 409 (users do,
        leads do not): only then is it safe to resend after the answer to a sent request was lost."""
        return self._call("POST", "/contacts", body, deadline=deadline, resend_after_loss=dedupes)

    def update_contact(self, contact_id: str, body: Mapping[str, Any], *, deadline: float) -> dict[str, Any]:
        return self._call("PUT", f"/contacts/{quote(contact_id, safe='')}", body, deadline=deadline)

    def get_contact(self, contact_id: str, *, deadline: float) -> dict[str, Any]:
        return self._call("GET", f"/contacts/{quote(contact_id, safe='')}", None, deadline=deadline)

    def unarchive_contact(self, contact_id: str, *, deadline: float) -> None:
        self._call("POST", f"/contacts/{quote(contact_id, safe='')}/unarchive", None, deadline=deadline)

    def find_user(
        self, *, email: str | None, external_id: str | None, deadline: float
    ) -> dict[str, Any] | None:
        """The user a 409 without an id meant: by external_id, else by email (search is eventually
        consistent, but an existing duplicate is old enough to be found)."""
        clauses = [
            {"field": field, "operator": "=", "value": value}
            for field, value in (("external_id", external_id), ("email", email))
            if value
        ]
        query = {
            "operator": "AND",
            "value": [{"field": "role", "operator": "=", "value": "user"}, *clauses[:1]],
        }
        found = self._call("POST", "/contacts/search", {"query": query}, deadline=deadline)
        data = found.get("data") or []
        return data[0] if data and isinstance(data[0], dict) else None

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        deadline: float,
        resend_after_loss: bool = True,
    ) -> dict[str, Any]:
        payload = None if body is None else json.dumps(body).encode()
        send = functools.partial(
            self._send, method, path, payload, deadline=deadline, resend_after_loss=resend_after_loss
        )
        response = send(token=self._token.get())
        if response.status == 401:  # the secret may have been rotated since this container cached it
            response = send(token=self._token.get(refresh=True))
        return self._result(response, lost_is_unknown=not resend_after_loss)

    def _send(
        self,
        method: str,
        path: str,
        payload: bytes | None,
        *,
        token: str,
        deadline: float,
        resend_after_loss: bool,
    ) -> urllib3.BaseHTTPResponse:
        self._wait_for_window(deadline)
        settings = self._settings
        retries = IntercomRetry(
            total=settings.max_attempts - 1,
            read=settings.max_attempts - 1 if resend_after_loss else False,
            redirect=False,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,
            backoff_factor=settings.backoff_factor,
            backoff_max=settings.backoff_max,
            raise_on_status=False,
            respect_retry_after_header=True,
            deadline=deadline,
            gate=self._gate,
        )
        read_timeout = max(0.1, min(settings.read_timeout, deadline - time.monotonic()))
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Intercom-Version": settings.api_version,
            "User-Agent": USER_AGENT,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._pool.request(
                method,
                settings.base_url + path,
                body=payload,
                headers=headers,
                retries=retries,
                timeout=urllib3.Timeout(connect=settings.connect_timeout, read=read_timeout),
            )
        except MaxRetryError as error:
            raise _transport_error(error.reason, resend_after_loss) from None
        except HTTPError as error:
            raise _transport_error(error, resend_after_loss) from None
        self._gate.observe(response.headers)
        return response

    def _wait_for_window(self, deadline: float) -> None:
        while (wait := self._gate.acquire()) > 0:
            if time.monotonic() + wait >= deadline:
                raise IntercomRateLimited(
                    "Intercom's rate limit is spent until its window resets.", retry_after=math.ceil(wait)
                )
            time.sleep(wait)

    def _result(self, response: urllib3.BaseHTTPResponse, *, lost_is_unknown: bool) -> dict[str, Any]:
        status = response.status
        try:
            data = json.loads(response.data) if response.data else None
        except ValueError:
            data = None
        if 200 <= status < 300:
            if isinstance(data, dict):
                return data
            problem = f"Intercom answered {status} with a body that is not a JSON object."
            raise (OutcomeUnknown if lost_is_unknown else IntercomBadResponse)(problem)

        request_id, code, intercom_message = _first_error(data)
        message = intercom_message or f"Intercom answered HTTP {status}."
        if status == 409 and code in {None, "conflict"}:
            match = CONFLICT_ID.search(message)
            raise ContactConflict(
                message,
                existing_id=match["id"] if match else None,
                archived=bool(match and match["archived"]),
                request_id=request_id,
            )
        error: ContactError
        if status in {401, 403}:
            error = IntercomAuthFailed(
                "Intercom rejected the access token; rotate the token secret.",
                request_id=request_id,
                intercom_code=code,
            )
        elif status == 429:
            wait = retry_after_seconds(status, response.headers) or 10.0
            error = IntercomRateLimited(message, retry_after=math.ceil(wait), request_id=request_id)
        elif status in RETRY_STATUSES or status >= 500:
            error = IntercomUnavailable(message, request_id=request_id, intercom_code=code)
        elif 400 <= status < 500:
            error = IntercomRejected(message, request_id=request_id, intercom_code=code)
        else:
            error = IntercomBadResponse(
                f"Intercom answered an unexpected HTTP {status}.", request_id=request_id
            )
        raise error


def _first_error(data: Any) -> tuple[str | None, str | None, str | None]:
    """(request_id, code, message) of an Intercom `error.list`, or Nones if it is not one."""
    if not isinstance(data, dict):
        return None, None, None
    request_id = data.get("request_id") if isinstance(data.get("request_id"), str) else None
    errors = data.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code, message = first.get("code"), first.get("message")
    return request_id, code if isinstance(code, str) else None, message if isinstance(message, str) else None


def _transport_error(reason: Exception | None, resend_after_loss: bool) -> ContactError:
    if isinstance(reason, ConnectTimeoutError):  # NewConnectionError too: the request was never sent
        return IntercomUnavailable("Intercom could not be reached.")
    if isinstance(reason, (ReadTimeoutError, ProtocolError)):
        if not resend_after_loss:
            return OutcomeUnknown(
                "The lead was sent to Intercom but its answer was lost; it was not resent, because Intercom "
                "does not deduplicate leads. Check Intercom before sending it again."
            )
        if isinstance(reason, ReadTimeoutError):
            return IntercomTimeout("Intercom did not answer in time.")
        return IntercomUnavailable("Intercom dropped the connection.")
    if isinstance(reason, ResponseError):
        return IntercomUnavailable(f"Intercom kept failing: {reason}")
    return IntercomUnavailable("Intercom could not be reached.")
