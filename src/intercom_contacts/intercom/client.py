"""Intercom's contacts API over urllib3: one call per method, Intercom's answers mapped to domain errors.

- One module-level PoolManager keeps connections alive across warm invocations.
- Retries, per-attempt timeouts and the deadline are `retry.py`'s; the shared view of the rate-limit
  window (and the worker's pacing) is `rate_limit.py`'s: every attempt waits for its turn there.
- `resend_after_loss` says whether a request may be sent again after its answer was lost: Intercom
  answers a repeated user with 409, but creates a repeated lead twice. Such a request is retried only
  after an answer that shows Intercom did not carry it out (408, 429, 503) or when it never left.
- `on_send` is called once a request has its turn, just before it first leaves: what it records (the
  send journal) is never written for a request that a crash kept from leaving.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, MaxRetryError, ResponseError
from urllib3.util import create_urllib3_context

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
from intercom_contacts.intercom.rate_limit import Gate, RateLimitGate
from intercom_contacts.intercom.retry import (
    MIN_ATTEMPT_SECONDS,
    NOT_CARRIED_OUT_STATUSES,
    RETRY_STATUSES,
    DeadlineTimeout,
    IntercomRetry,
    Turns,
    lost_answer,
    retry_after_seconds,
)
from intercom_contacts.observability import logger

USER_AGENT = "intercom-contacts-lambda/0.1"
CONNECT_TIMEOUT_SECONDS = 3.05  # just over a multiple of 3 s, TCP's retransmission step
BACKOFF_MAX_SECONDS = 8.0
# Intercom's wording varies ("An archived contact", "An Archived contact", spacing): match loosely.
CONFLICT_ID = re.compile(
    r"(?P<archived>archived\s+)?contact\s+matching\s+those\s+details\s+already\s+exists\s+with\s+id\s*=\s*"
    r"(?P<id>\w+)",
    re.IGNORECASE,
)

# One TLS context, its trusted CAs loaded once at init: without it urllib3 builds a context and loads
# the whole CA bundle (~30 ms for ~140 roots) for every new connection, the first request's included.
TLS = create_urllib3_context()
TLS.load_default_certs()
POOL = urllib3.PoolManager(num_pools=4, maxsize=16, retries=False, ssl_context=TLS)


class TokenSource(Protocol):
    def get(self, *, refresh: bool = False) -> str: ...


class IntercomClient:
    def __init__(
        self,
        settings: Settings,
        token: TokenSource,
        *,
        pool: urllib3.PoolManager = POOL,
        gate: Gate | None = None,
    ) -> None:
        self._settings = settings
        self._token = token
        self._pool = pool
        self._gate = gate or RateLimitGate()

    def create_contact(
        self,
        body: Mapping[str, Any],
        *,
        deadline: float,
        resend_after_loss: bool,
        on_send: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """`POST /contacts`. With `resend_after_loss` (users), a lost answer is retried and the 409
        it may meet carries `sent_at`; without it (leads), a lost answer, or an answer after which
        Intercom may have created the contact (500, 502, 504), raises OutcomeUnknown."""
        return self._call(
            "POST", "/contacts", body, deadline=deadline, resend_after_loss=resend_after_loss, on_send=on_send
        )

    def update_contact(self, contact_id: str, body: Mapping[str, Any], *, deadline: float) -> dict[str, Any]:
        return self._call("PUT", f"/contacts/{quote(contact_id, safe='')}", body, deadline=deadline)

    def get_contact(self, contact_id: str, *, deadline: float) -> dict[str, Any]:
        return self._call("GET", f"/contacts/{quote(contact_id, safe='')}", None, deadline=deadline)

    def unarchive_contact(self, contact_id: str, *, deadline: float) -> None:
        self._call("POST", f"/contacts/{quote(contact_id, safe='')}/unarchive", None, deadline=deadline)

    def search_contacts(
        self, query: Mapping[str, Any], *, deadline: float, per_page: int | None = None
    ) -> list[dict[str, Any]]:
        """`POST /contacts/search`: the first page of matches (of `per_page`, or Intercom's default).
        Intercom's search is eventually consistent: a contact created a moment ago may be missing."""
        body: dict[str, Any] = {"query": query}
        if per_page is not None:
            body["pagination"] = {"per_page": per_page}
        found = self._call("POST", "/contacts/search", body, deadline=deadline)
        data = found.get("data")
        return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | None, *, deadline: float
    ) -> dict[str, Any]:
        """Another resource's call (intercom/data_attributes.py), with the same gate, retries and errors."""
        return self._call(method, path, body, deadline=deadline)

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        deadline: float,
        resend_after_loss: bool = True,
        on_send: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        payload = None if body is None else json.dumps(body, allow_nan=False).encode()
        sent_at = time.time()
        send = functools.partial(
            self._send, method, path, payload, deadline=deadline, resend_after_loss=resend_after_loss
        )
        response = send(token=self._token.get(), sent_at=sent_at, on_send=on_send)
        if response.status == 401:  # the secret may have been rotated since this container cached it
            response = send(token=self._token.get(refresh=True), sent_at=sent_at, on_send=None)
        retries = response.retries
        lost_before = isinstance(retries, IntercomRetry) and retries.lost_an_answer()
        return self._result(
            response, lost_is_unknown=not resend_after_loss, sent_at=sent_at, lost_before=lost_before
        )

    def _send(
        self,
        method: str,
        path: str,
        payload: bytes | None,
        *,
        token: str,
        deadline: float,
        resend_after_loss: bool,
        sent_at: float,
        on_send: Callable[[], None] | None,
    ) -> urllib3.BaseHTTPResponse:
        turns = Turns(self._gate, deadline)
        turns.take()
        try:
            if deadline - time.monotonic() < MIN_ATTEMPT_SECONDS:
                raise IntercomTimeout("Too little time was left to wait for Intercom's answer.")
            if on_send is not None:
                on_send()
            response = self._request(
                method,
                path,
                payload,
                token=token,
                deadline=deadline,
                resend_after_loss=resend_after_loss,
                sent_at=sent_at,
                turns=turns,
            )
            turns.give_back(response)  # nothing when the retry policy has given this answer's turn back
            return response
        finally:
            turns.give_back()  # no answer, or a turn taken for a retry that never left

    def _request(
        self,
        method: str,
        path: str,
        payload: bytes | None,
        *,
        token: str,
        deadline: float,
        resend_after_loss: bool,
        sent_at: float,
        turns: Turns,
    ) -> urllib3.BaseHTTPResponse:
        """The request and its retries, each taking its turn; transport failures as domain errors."""
        settings = self._settings
        retries = IntercomRetry(
            total=settings.max_attempts - 1,
            read=settings.max_attempts - 1 if resend_after_loss else False,
            redirect=False,
            status_forcelist=RETRY_STATUSES if resend_after_loss else NOT_CARRIED_OUT_STATUSES,
            allowed_methods=None,
            backoff_factor=settings.backoff_factor,
            backoff_max=BACKOFF_MAX_SECONDS,
            raise_on_status=False,
            respect_retry_after_header=True,
            deadline=deadline,
            turns=turns,
        )
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Intercom-Version": settings.api_version,
            "User-Agent": USER_AGENT,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._pool.request(
                method,
                settings.base_url + path,
                body=payload,
                headers=headers,
                retries=retries,
                timeout=DeadlineTimeout(
                    connect=CONNECT_TIMEOUT_SECONDS, read=settings.read_timeout, deadline=deadline
                ),
            )
        except MaxRetryError as error:
            raise _transport_error(error.reason, resend_after_loss, sent_at) from None
        except HTTPError as error:
            raise _transport_error(error, resend_after_loss, sent_at) from None

    def _result(
        self,
        response: urllib3.BaseHTTPResponse,
        *,
        lost_is_unknown: bool,
        sent_at: float,
        lost_before: bool,
    ) -> dict[str, Any]:
        status = response.status
        try:
            data = json.loads(response.data) if response.data else None
        except ValueError:
            data = None
        if 200 <= status < 300:
            if isinstance(data, dict):
                return data
            problem = f"Intercom answered {status} with a body that is not a JSON object."
            if lost_is_unknown:  # a 2xx: Intercom probably created it, but its id is unreadable
                raise OutcomeUnknown(problem, sent_at=sent_at)
            raise IntercomBadResponse(problem)
        if lost_is_unknown and status >= 500 and status not in NOT_CARRIED_OUT_STATUSES:
            # A 500 too: Intercom failed while handling it, perhaps after storing the contact.
            raise OutcomeUnknown(
                f"Intercom answered {status}: it may have created the lead before failing.", sent_at=sent_at
            )

        request_id, code, intercom_message = _first_error(data)
        message = intercom_message or f"Intercom answered HTTP {status}."
        if status == 409 and code in {None, "conflict"}:
            match = CONFLICT_ID.search(message)
            raise ContactConflict(
                message,
                existing_id=match["id"] if match else None,
                archived=bool(match and match["archived"]),
                request_id=request_id,
                sent_at=sent_at if lost_before else None,
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


def _transport_error(reason: Exception | None, resend_after_loss: bool, sent_at: float) -> ContactError:
    logger.warning(
        "no answer from Intercom", extra={"error": type(reason).__name__, "detail": str(reason)[:300]}
    )
    if isinstance(reason, ConnectTimeoutError):  # NewConnectionError too: the request was never sent
        return IntercomUnavailable("Intercom could not be reached.")
    if lost_answer(reason):
        if not resend_after_loss:
            return OutcomeUnknown(
                "The lead was sent to Intercom but its answer was lost; it is not sent again, because "
                "Intercom does not deduplicate leads.",
                sent_at=sent_at,
            )
        if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
            return IntercomTimeout("Intercom did not answer in time.")
        return IntercomUnavailable("Intercom dropped the connection.")
    if isinstance(reason, ResponseError):
        return IntercomUnavailable(f"Intercom kept failing: {reason}")
    return IntercomUnavailable("Intercom could not be reached.")
