"""A stand-in for the service's batch API, over real HTTP on 127.0.0.1, for the import command's tests.

It keeps the contract the importer relies on: `POST /contacts/batch` (API key, Idempotency-Key
replays, 422 for a key reused with another body, 503 with per-item results when items could not be
queued), `GET /contacts/batch/{id}` (counts, items paged by cursor) and `POST .../retry`. A worker
is simulated: each GET of a batch moves up to `per_poll` of its pending items to their end, decided by
the contact's email: `fail...@` fails (final), `flaky...@` fails once and is created when retried,
`exists...@` is an existing user; anything else is created. `contacts` is what Intercom would hold,
`queued` how many times each item was queued (by its idempotency key).
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from intercom_contacts.models.contact import ContactRequest

API_KEY = "test-key"


@dataclass
class Item:
    contact: dict[str, Any] | None
    status: str
    code: str | None = None
    message: str | None = None
    contact_id: str | None = None
    attempts: int = 0


@dataclass
class Batch:
    batch_id: str
    key: str | None
    body_hash: str
    items: list[Item]


@dataclass
class FakeBatchApi:
    per_poll: int = 1000
    batches: dict[str, Batch] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    contacts: list[dict[str, Any]] = field(default_factory=list)  # what Intercom would hold, in order
    queued: Counter[str] = field(default_factory=Counter)  # item idempotency key -> times queued
    requests: list[tuple[str, str]] = field(default_factory=list)
    # statuses (or status and code) answered to the next requests
    faults: deque[int | tuple[int, str]] = field(default_factory=deque)
    queue_refusals: int = 0  # POSTs whose last item SQS "refuses" (answered 503 with failed items)
    paused: bool = False  # the worker makes no progress
    worker_limit: int | None = None  # the worker stops once Intercom holds this many contacts
    down_after_posts: int | None = None  # every request after this many batch POSTs is answered 503
    max_page: int = 1000  # the most items a GET answers, whatever limit asks
    run_log: bool = True  # False: a deployment from before GET /contacts/batch/{id}, no batch_id
    post_delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, answer = api.handle(method, self.path, dict(self.headers.items()), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeBatchApi:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self) -> int:
        return sum(1 for method, path in self.requests if method == "POST" and path == "/contacts/batch")

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((method, parts.path))
            if self.faults:
                fault = self.faults.popleft()
                status, code = fault if isinstance(fault, tuple) else (fault, "INTERNAL_ERROR")
                return status, {"code": code, "message": "injected"}
            if self.down_after_posts is not None and self.posts() > self.down_after_posts:
                return 503, {"code": "SERVICE_UNAVAILABLE", "message": "down"}
            if {name.lower(): value for name, value in headers.items()}.get("x-api-key") != API_KEY:
                return 403, {"message": "Forbidden"}
            segments = parts.path.strip("/").split("/")
            if method == "POST" and segments == ["contacts", "batch"]:
                key = {name.lower(): value for name, value in headers.items()}.get("idempotency-key")
                return self._submit(key, body)
            if segments[:2] != ["contacts", "batch"] or len(segments) < 3 or segments[2] not in self.batches:
                return 404, {"code": "BATCH_NOT_FOUND", "message": "No batch with this id."}
            batch = self.batches[segments[2]]
            if method == "POST" and segments[3:] == ["retry"]:
                return self._retry(batch)
            if method == "GET" and len(segments) == 3:
                return self._state(batch, int(query.get("limit", "100")), int(query.get("cursor", "0")))
            return 404, {"code": "NOT_FOUND", "message": "No such route."}

    def _submit(self, key: str | None, body: bytes) -> tuple[int, Any]:
        if self.post_delay:
            threading.Event().wait(self.post_delay)
        contacts = json.loads(body)["contacts"]
        if not 1 <= len(contacts) <= 1000 or len(body) > 256 * 1024:
            return 422, {"code": "VALIDATION_ERROR", "message": "1 to 1,000 contacts, under 256 KiB."}
        body_hash = hashlib.sha256(body).hexdigest()
        if key in self.by_key:
            batch = self.batches[self.by_key[key]]
            if batch.body_hash != body_hash:
                return 422, {
                    "code": "IDEMPOTENCY_KEY_REUSED",
                    "message": "The key was used for another body.",
                }
        else:
            batch = Batch(uuid.uuid4().hex, key, body_hash, [self._validated(item) for item in contacts])
            self.batches[batch.batch_id] = batch
            if key:
                self.by_key[key] = batch.batch_id
        refuse_last = self.queue_refusals > 0
        self.queue_refusals -= refuse_last
        answers = []
        for index, item in enumerate(batch.items):
            if item.status == "unqueued":
                if refuse_last and index == len(batch.items) - 1:
                    answers.append(
                        {"index": index, "status": "failed", "code": "QUEUE_SEND_FAILED", "message": "x"}
                    )
                    continue
                item.status = "pending"
                self.queued[f"{key}:{index}"] += 1
            if item.status == "rejected":
                answers.append(
                    {"index": index, "status": "rejected", "code": item.code, "message": item.message}
                )
            else:
                answers.append({"index": index, "status": "queued", "message_id": f"m-{index}"})
        counts = Counter(answer["status"] for answer in answers)
        answer = {
            "batch_id": batch.batch_id,
            "queued": counts["queued"],
            "rejected": counts["rejected"],
            "failed": counts["failed"],
            "items": answers,
        }
        if not self.run_log:
            del answer["batch_id"]
        return (503 if counts["failed"] else 202), answer

    def _validated(self, contact: Any) -> Item:
        try:
            ContactRequest.model_validate(contact)
        except ValidationError:
            return Item(None, "rejected", "VALIDATION_ERROR", "Invalid fields.")
        return Item(contact, "unqueued")

    def _work(self, batch: Batch) -> None:
        if self.paused:
            return
        for item in [item for item in batch.items if item.status == "pending"][: self.per_poll]:
            if self.worker_limit is not None and len(self.contacts) >= self.worker_limit:
                return
            assert item.contact is not None
            item.attempts += 1
            email = str(item.contact.get("email") or "")
            if email.startswith("fail") or (email.startswith("flaky") and item.attempts == 1):
                item.status, item.code, item.message = (
                    "failed",
                    "INTERCOM_UNAVAILABLE",
                    "Intercom answered 503.",
                )
            elif email.startswith("exists"):
                item.status, item.contact_id = "existing", f"existing-{email}"
            else:
                item.status, item.contact_id = "created", f"c{len(self.contacts)}"
                self.contacts.append({**item.contact, "id": item.contact_id})

    def _state(self, batch: Batch, limit: int, cursor: int) -> tuple[int, Any]:
        self._work(batch)
        counts = Counter(item.status for item in batch.items)
        limit = min(limit, self.max_page)
        page = batch.items[cursor : cursor + limit]
        answer: dict[str, Any] = {
            "batch_id": batch.batch_id,
            "status": "in_progress" if counts["pending"] or counts["unqueued"] else "completed",
            "submitted_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "counts": {
                "total": len(batch.items),
                **{s: counts[s] for s in ("pending", "created", "existing", "updated", "failed", "rejected")},
            },
            "items": [
                {"index": cursor + n, "attempts": item.attempts, "status": item.status}
                | {
                    name: value
                    for name, value in (
                        ("contact_id", item.contact_id),
                        ("code", item.code),
                        ("message", item.message),
                    )
                    if value
                }
                for n, item in enumerate(page)
            ],
        }
        if cursor + limit < len(batch.items):
            answer["next_cursor"] = str(cursor + limit)
        return 200, answer

    def _retry(self, batch: Batch) -> tuple[int, Any]:
        failed = [item for item in batch.items if item.status == "failed"]
        for item in failed:
            item.status, item.code, item.message = "pending", None, None
        return 202, {"requeued": len(failed)}
