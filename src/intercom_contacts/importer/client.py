"""The batch API over HTTP: `POST /contacts/batch`, `GET /contacts/batch/{id}` and its retry endpoint.

urllib3's Retry repeats 429s, 5xx answers, connection errors and 409 REQUEST_IN_PROGRESS (the same
batch is being queued by an earlier request that timed out on our side: "retry in a few seconds") with
exponential backoff, honouring Retry-After. POSTs are repeated too, which is safe: a batch carries its
Idempotency-Key (the same key and body answer the same batch and queue nothing twice), and asking to
retry a batch's failed items again finds none left to requeue. The batch endpoints answer 409 for
nothing else. `GET /contacts/attributes` and `POST /contacts/attributes` (the workspace's custom
attributes; one created) are repeated the same way, but for a 409: there it is a conflict of types. A
repeated creation is safe: an attribute that exists with the type asked for is answered 200.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from pydantic import BaseModel, ValidationError
from urllib3.util.retry import Retry

from intercom_contacts.importer.problems import ImportStopped, UsageProblem
from intercom_contacts.intercom.data_attributes import DataAttribute
from intercom_contacts.models.attributes import AttributesResponse, WorkspaceAttribute
from intercom_contacts.models.batch import BatchResponse, BatchRunLog, RetryResponse, RunLogItem
from intercom_contacts.models.contact import OnConflict

RETRY = Retry(
    total=8,
    backoff_factor=0.5,
    backoff_max=30,
    status_forcelist=(409, 429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET", "POST"}),
    redirect=0,  # never follow a redirect with the API key
    raise_on_redirect=False,
    raise_on_status=False,
)
TIMEOUT = urllib3.Timeout(connect=5, read=60)
PAGE_LIMIT = 1000
RESUME_HINT = "run the same command again to resume: nothing is queued twice"

# Answers that stop the import, by their code, and what to do.
STOPPED_BY = {
    "IDEMPOTENCY_KEY_REUSED": "The service already holds a batch of this import (same rows, same options) "
    "with different contacts: another version of this tool started it. Finish it with that version, or "
    "report this.",
    "REQUEST_IN_PROGRESS": "The service was still queueing a chunk of this import for an earlier request "
    f"after every retry (is the same import running elsewhere?); wait a minute, then {RESUME_HINT}.",
}

# What the batch API answers is read with the service's own models (models/batch.py); they ignore
# fields they do not know, so a newer service may add some.


class BatchApi:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "x-api-key": api_key,
            "accept": "application/json",
            "user-agent": "intercom-contacts-import",
        }
        self._pool = urllib3.PoolManager(timeout=TIMEOUT)

    def submit(self, body: bytes, *, key: str, on_conflict: OnConflict) -> BatchResponse:
        """Queue one chunk; only returns once every valid item is queued (a 503 is retried)."""
        status, answer = self._call(
            "POST",
            "/contacts/batch",
            fields={"on_conflict": on_conflict.value},
            body=body,
            headers={"content-type": "application/json", "Idempotency-Key": key},
        )
        if status == 503 and isinstance(answer, dict) and "items" in answer:
            raise ImportStopped(
                "QUEUE_SEND_FAILED",
                f"The service could not queue {answer.get('failed', 'some')} contact(s) of a batch after "
                f"every retry (503); wait until it recovers, then {RESUME_HINT}.",
            )
        if status == 202 and isinstance(answer, dict) and "batch_id" not in answer:
            raise ImportStopped(
                "NO_RUN_LOG",
                f"{self.base_url} queued a batch but did not say its batch_id, so it cannot be followed: "
                "this deployment predates GET /contacts/batch/{id}. Deploy the current service, then run "
                "the same command again (the contacts already queued are not created twice).",
            )
        return self._parsed(BatchResponse, status, answer, expected=202)

    def state(self, batch_id: str, *, limit: int = 1, cursor: str | None = None) -> BatchRunLog:
        fields = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        status, answer = self._call("GET", f"/contacts/batch/{quote(batch_id, safe='')}", fields=fields)
        return self._parsed(BatchRunLog, status, answer, expected=200)

    def attributes(self) -> dict[str, DataAttribute]:
        """The workspace's custom attributes by name. An import that cannot read them stops rather than
        pass values it could not check or guess which attributes to create."""
        try:
            status, answer = self._call("GET", "/contacts/attributes")
            listed = self._parsed(AttributesResponse, status, answer, expected=200)
        except ImportStopped as stopped:
            raise ImportStopped(
                "ATTRIBUTES_UNAVAILABLE",
                f"The workspace's custom attributes could not be read ({stopped.code}: {stopped.message}), "
                "so the custom_attributes columns cannot be checked (--dry-run) or the missing attributes "
                "typed (--create-attributes). Nothing was sent; run the same command again when the service "
                "and Intercom answer.",
            ) from None
        return {
            item.name: DataAttribute(item.name, item.data_type, item.api_writable, tuple(item.options or ()))
            for item in listed.attributes
        }

    def create_attribute(self, name: str, data_type: str) -> tuple[WorkspaceAttribute, bool]:
        """`POST /contacts/attributes`: the attribute, and whether this call created it (False: the
        workspace had it with this type). What the service refuses (another type, a name Intercom will
        not take, the workspace's limit) is a UsageProblem: nothing has been sent."""
        status, answer = self._call(
            "POST",
            "/contacts/attributes",
            body=json.dumps({"name": name, "data_type": data_type}).encode(),
            headers={"content-type": "application/json"},
            # its 409 is a conflict of types, which asking again cannot settle
            retries=RETRY.new(
                status_forcelist=tuple(code for code in RETRY.status_forcelist or () if code != 409)
            ),
        )
        if status in {409, 422} and isinstance(answer, dict) and answer.get("code"):
            reasons = "; ".join(
                f"{field.get('field')} {field.get('message')}"
                for field in answer.get("fields") or []
                if isinstance(field, dict)
            )
            raise UsageProblem(
                str(answer["code"]),
                f"custom_attributes.{name} could not be created as a {data_type} attribute: "
                f"{reasons or answer.get('message')}. Nothing was sent; fix the column (or leave it out "
                f"with --map 'custom_attributes.{name}=ignore'), then run the same command again.",
            )
        created = status == 201
        return self._parsed(WorkspaceAttribute, status, answer, expected=201 if created else 200), created

    def items(self, batch_id: str) -> Iterator[RunLogItem]:
        """Every item of the batch, page after page."""
        cursor: str | None = None
        while True:
            page = self.state(batch_id, limit=PAGE_LIMIT, cursor=cursor)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def retry_failed(self, batch_id: str) -> int:
        """Send the batch's failed items back to the queue; how many went."""
        status, answer = self._call("POST", f"/contacts/batch/{quote(batch_id, safe='')}/retry")
        return self._parsed(RetryResponse, status, answer, expected=202).requeued

    def _call(
        self,
        method: str,
        path: str,
        *,
        fields: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        retries: Retry | None = None,
    ) -> tuple[int, Any]:
        url = self.base_url + path
        if fields:
            url += "?" + urlencode(fields)
        try:
            response = self._pool.request(
                method,
                url,
                body=body,
                headers={**self._headers, **(headers or {})},
                retries=retries or RETRY,
            )
        except urllib3.exceptions.HTTPError as error:
            reason = getattr(error, "reason", None) or error
            raise ImportStopped(
                "SERVICE_UNREACHABLE",
                f"{self.base_url} did not answer {method} {path} ({reason}) after every retry; check the "
                f"URL and the network, then {RESUME_HINT}.",
            ) from None
        try:
            answer = json.loads(response.data) if response.data else None
        except ValueError:
            answer = None
        return response.status, answer

    def _parsed[M: BaseModel](self, model: type[M], status: int, answer: Any, *, expected: int) -> M:
        if status == expected:
            try:
                return model.model_validate(answer)
            except ValidationError:
                raise ImportStopped(
                    "BAD_RESPONSE",
                    f"{self.base_url} answered {status} with a body that is not the batch API's; "
                    "check that --api points at this service.",
                ) from None
        raise self._problem(status, answer)

    def _problem(self, status: int, answer: Any) -> Exception:
        body = answer if isinstance(answer, dict) else {}
        code, message = str(body.get("code") or ""), str(body.get("message") or "")
        if (status == 403 and message == "Missing Authentication Token") or code == "NOT_FOUND":
            return UsageProblem(
                "WRONG_API_URL",
                f"{self.base_url} has no such route; give the API's base URL, the one that "
                "POST /contacts is under (e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/v1).",
            )
        if status in {401, 403}:
            return UsageProblem(
                "API_KEY_REFUSED",
                f"{self.base_url} refused the API key ({status}); check --api-key or CONTACTS_API_KEY "
                "(for a stack: aws apigateway get-api-key --api-key <ApiKeyId> --include-value).",
            )
        if code in STOPPED_BY:
            return ImportStopped(code, STOPPED_BY[code])
        if code == "BATCH_NOT_FOUND":
            return ImportStopped(
                code,
                f"The service no longer knows a batch of this import ({message}); {RESUME_HINT}.",
            )
        if status == 429 or status >= 500:
            return ImportStopped(
                "SERVICE_UNAVAILABLE",
                f"{self.base_url} answered {status} {code} after every retry; wait, then {RESUME_HINT}.",
            )
        return ImportStopped(
            code or f"HTTP_{status}",
            f"{self.base_url} answered {status}: {message or 'no explanation'}; report this if it persists.",
        )
