"""A stateful Intercom contacts API on loopback, for tests, the local stack and benchmarks.

It behaves as Intercom does where this service depends on it (auth, Accept, versions, 409 on a
duplicate user, rate-limit headers and 429s, error lists) and validates every request body
against Intercom's official schema, vendored in `intercom_sandbox/schema/`. Faults can be injected
from Python or over HTTP (`/_sandbox/...`), so a person can break it on purpose while `make run` is up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import re
import secrets
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from jsonschema import Draft202012Validator

# Inside the repository, so that a plain clone has everything the sandbox reads.
SCHEMA_DIR = Path(__file__).resolve().parent / "intercom_sandbox" / "schema"
DEFAULT_CUSTOM_ATTRIBUTES = ("plan", "paid_subscriber", "monthly_spend", "team_mates", "source", "seats")
DEFAULT_WINDOW_LIMIT = 1666  # 10,000 a minute, spread over 10-second windows
WORKSPACE_ID = "ecahpwf5"
CONTACT_PATH = re.compile(r"^/contacts/(?P<id>[^/]+)(?P<unarchive>/unarchive)?$")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any | None
    status: int


@dataclass
class _Fault:
    kind: str  # fail | delay | drop
    count: int
    status: int = 503
    seconds: float = 0.0
    mid_response: bool = False
    method: str | None = None
    path_prefix: str = "/contacts"
    body: bytes | None = None


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, code: str, message: str, field_name: str | None = None) -> _Answer:
    item: dict[str, Any] = {"code": code, "message": message}
    if field_name:
        item["field"] = field_name
    return _Answer(status, {"type": "error.list", "request_id": str(uuid.uuid4()), "errors": [item]})


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` -> JSON Schema's `type: [t, "null"]`; drop `example`s."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:  # the excerpts keep a few refs into the full document: accept an object there
        return {"type": "object"}
    converted = {k: _nullable_to_json_schema(v) for k, v in node.items() if k not in {"nullable", "example"}}
    if any("$ref" in member for member in node.get("oneOf", [])):  # stand-ins are alike: one of them suffices
        converted["anyOf"] = converted.pop("oneOf")
    if node.get("nullable") and isinstance(node.get("type"), str):
        converted["type"] = [node["type"], "null"]
    if converted.get("format") == "date-time" and converted.get("type") in ("integer", ["integer", "null"]):
        converted.pop("format")  # Intercom marks Unix-seconds integers as date-time
    return converted


class _Schemas:
    def __init__(self, directory: Path) -> None:
        def load(name: str) -> Draft202012Validator:
            schema = _nullable_to_json_schema(json.loads((directory / name).read_text()))
            return Draft202012Validator(schema)

        self.create = load("create_contact_request.2.16.json")
        self.update = load("update_contact_request.2.16.json")
        self.search = load("contact_search_request.2.16.resolved.json")
        self.contact = load("contact.2.16.resolved.json")
        self.error = load("error.2.16.json")
        self.fields = set(
            json.loads((directory / "create_contact_request.2.16.json").read_text())["properties"]
        )
        versions = json.loads((directory / "servers_and_version.2.16.json").read_text())
        self.versions = set(versions["intercom_version"]["enum"])
        conflicts = json.loads((directory / "post_contacts_409_UNMERGED_draft_pr543.2.15.json").read_text())
        examples = conflicts["content"]["application/json"]["examples"]
        self.conflict_message = examples["Contact already exists"]["value"]["errors"][0]["message"]
        self.archived_message = examples["Archived contact already exists"]["value"]["errors"][0]["message"]


class IntercomSandbox:
    def __init__(
        self,
        *,
        token: str = "sandbox-token",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
        window_seconds: float = 10.0,
        custom_attributes: Iterable[str] = DEFAULT_CUSTOM_ATTRIBUTES,
        open_reads: bool = False,
    ) -> None:
        self._schemas = _Schemas(SCHEMA_DIR)
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._token = token
        self._custom_attributes = set(custom_attributes)
        self.open_reads = open_reads
        self.contacts: dict[str, dict[str, Any]] = {}
        self._archived: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self._faults: deque[_Fault] = deque()
        self._latency = 0.0
        self._failure_rate, self._failure_status = 0.0, 500
        self._random = random.Random()  # noqa: S311  # nosec B311 # fault injection, not cryptography
        self._limit: int | None = rate_limit
        self._window = window_seconds
        self._window_start = 0.0
        self._window_used = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{self._host}:{self._server.server_address[1]}"

    def start(self) -> IntercomSandbox:
        sandbox = self

        class Handler(_Handler):
            pass

        Handler.sandbox = sandbox
        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="intercom-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> IntercomSandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- control ---------------------------------------------------------------------------
    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def rotate_token(self, token: str) -> None:
        with self._lock:
            self._token = token

    def set_rate_limit(self, limit: int | None, window_seconds: float = 10.0) -> None:
        with self._lock:
            self._limit, self._window = limit, window_seconds
            self._window_start, self._window_used = 0.0, 0

    def fail_next(
        self,
        count: int,
        status: int = 503,
        *,
        method: str | None = None,
        path_prefix: str = "/contacts",
        body: bytes | None = None,
    ) -> None:
        self._inject(_Fault("fail", count, status, method=method, path_prefix=path_prefix, body=body))

    def delay_next(self, count: int, seconds: float) -> None:
        self._inject(_Fault("delay", count, seconds=seconds))

    def drop_next(self, count: int, *, mid_response: bool = False) -> None:
        self._inject(_Fault("drop", count, mid_response=mid_response))

    def set_latency(self, seconds: float) -> None:
        self._latency = seconds

    def set_failure_rate(self, probability: float, status: int = 500, seed: int | None = None) -> None:
        with self._lock:
            self._failure_rate, self._failure_status = probability, status
            if seed is not None:
                self._random.seed(seed)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._failure_rate = 0.0
            self._latency = 0.0

    def archive(self, contact_id: str) -> None:
        with self._lock:
            self._archived.add(contact_id)

    def seed_contact(self, **fields: Any) -> dict[str, Any]:
        with self._lock:
            return self._store_new(fields)

    def reset(self) -> None:
        with self._lock:
            self.contacts.clear()
            self._archived.clear()
            self.requests.clear()
            self._faults.clear()
            self._latency, self._failure_rate = 0.0, 0.0
            self._window_start, self._window_used = 0.0, 0

    def _inject(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    # --- the API ---------------------------------------------------------------------------
    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.method in (None, method)) and path.startswith(fault.path_prefix):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
            if self._failure_rate and self._random.random() < self._failure_rate:
                return _Fault("fail", 1, self._failure_status)
        return None

    def _rate_limit_headers(self) -> tuple[dict[str, str], bool]:
        """Spend one call of the current window; say whether the window was already spent."""
        with self._lock:
            now = time.time()
            limit = self._limit if self._limit is not None else DEFAULT_WINDOW_LIMIT
            start = math.floor(now / self._window) * self._window
            if start != self._window_start:
                self._window_start, self._window_used = start, 0
            spent = self._window_used >= limit
            if not spent:
                self._window_used += 1
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - self._window_used)),
                "X-RateLimit-Reset": str(math.ceil(start + self._window)),
            }
            return headers, spent

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        """Answer one API request as Intercom would (raises nothing; faults are applied by the caller)."""
        is_browse = self.open_reads and method == "GET" and (path == "/contacts" or CONTACT_PATH.match(path))
        if not is_browse:
            if headers.get("authorization") != f"Bearer {self._token}":
                return _error(401, "unauthorized", "Access Token Invalid")
            accept = headers.get("accept", "")
            if not any(
                part.split(";")[0].strip() in {"application/json", "*/*"} for part in accept.split(",")
            ):
                return _error(406, "not_acceptable", "The Accept header must allow application/json")
            version = headers.get("intercom-version")
            if version is not None and version not in self._schemas.versions:
                return _error(400, "intercom_version_invalid", f"Intercom-Version {version!r} is not valid")
        limits, spent = self._rate_limit_headers()
        if spent:
            answer = _error(
                429,
                "rate_limit_exceeded",
                f"Exceeded rate limit of {limits['X-RateLimit-Limit']} in 10_seconds",
            )
        else:
            try:
                answer = self._route(method, path, body)
            except _Answer as raised:
                answer = raised
        answer.headers.update(limits)
        return answer

    def _route(self, method: str, path: str, body: bytes) -> _Answer:
        if path == "/contacts" and method == "POST":
            return self._create(self._json_object(body))
        if path == "/contacts" and method == "GET":
            with self._lock:
                data = [self._public(c) for c in self.contacts.values()]
            return _Answer(200, _list(data))
        if path == "/contacts/search" and method == "POST":
            return self._search(self._json_object(body))
        match = CONTACT_PATH.match(path)
        if match:
            contact_id, unarchive = unquote(match["id"]), match["unarchive"]
            if method == "GET" and not unarchive:
                with self._lock:
                    return _Answer(200, self._public(self._existing(contact_id)))
            if method == "PUT" and not unarchive:
                return self._update(contact_id, self._json_object(body))
            if method == "POST" and unarchive:
                with self._lock:
                    contact = self._existing(contact_id)
                    self._archived.discard(contact_id)
                return _Answer(
                    200,
                    {
                        "id": contact_id,
                        "external_id": contact["external_id"],
                        "type": "contact",
                        "archived": False,
                    },
                )
        raise _error(404, "not_found", "Resource Not Found")

    def _json_object(self, body: bytes) -> dict[str, Any]:
        try:
            value = json.loads(body or b"null")
        except ValueError:
            raise _error(400, "parameter_invalid", "The request body is not valid JSON") from None
        if not isinstance(value, dict):
            raise _error(400, "parameter_invalid", "The request body must be a JSON object")
        return value

    def _check_contact_body(self, body: dict[str, Any], validator: Draft202012Validator) -> None:
        for name in body:
            if name not in self._schemas.fields:
                raise _error(400, "parameter_not_found", f"Unknown parameter {name}", name)
        problem = next(iter(validator.iter_errors(body)), None)
        if problem is not None:
            where = ".".join(str(p) for p in problem.absolute_path) or None
            raise _error(400, "parameter_invalid", problem.message, where)
        if "role" in body and body["role"] not in {"user", "lead"}:
            raise _error(400, "parameter_invalid", "role must be user or lead", "role")
        if body.get("email_verified") is not None and not body.get("email"):
            raise _error(
                400, "parameter_invalid", "email_verified must be sent together with email", "email_verified"
            )
        for name in body.get("custom_attributes") or {}:
            if name not in self._custom_attributes:
                raise _error(
                    400,
                    "parameter_not_found",
                    f"Custom attribute '{name}' does not exist",
                    "custom_attributes",
                )

    def _create(self, body: dict[str, Any]) -> _Answer:
        self._check_contact_body(body, self._schemas.create)
        if not (body.get("email") or body.get("external_id") or body.get("role")):
            raise _error(400, "parameter_invalid", "email, external_id or role is required")
        with self._lock:
            if body.get("role", "user") == "user":
                self._refuse_duplicate(body, exclude=None)
            return _Answer(200, self._public(self._store_new(body)))

    def _update(self, contact_id: str, body: dict[str, Any]) -> _Answer:
        self._check_contact_body(body, self._schemas.update)
        with self._lock:
            contact = self._existing(contact_id)
            if body.get("role", contact["role"]) == "user":
                self._refuse_duplicate(body, exclude=contact_id)
            contact.update(self._fields_from(body))
            contact["updated_at"] = max(int(time.time()), contact["updated_at"] + 1)
            return _Answer(200, self._public(contact))

    def _refuse_duplicate(self, body: dict[str, Any], exclude: str | None) -> None:
        email = (body.get("email") or "").lower()
        external_id = body.get("external_id")
        for contact in self.contacts.values():
            if contact["id"] == exclude or contact["role"] != "user":
                continue
            if (email and (contact["email"] or "").lower() == email) or (
                external_id and contact["external_id"] == external_id
            ):
                template = (
                    self._schemas.archived_message
                    if contact["id"] in self._archived
                    else self._schemas.conflict_message
                )
                message = re.sub(r"id=\w+$", f"id={contact['id']}", template)
                raise _error(409, "conflict", message)

    def _search(self, body: dict[str, Any]) -> _Answer:
        problem = next(iter(self._schemas.search.iter_errors(body)), None)
        if problem is not None:
            raise _error(400, "parameter_invalid", problem.message)
        query = body.get("query") or {}

        def matches(contact: dict[str, Any], clause: dict[str, Any]) -> bool:
            if clause.get("operator") in {"AND", "OR"}:
                results = [matches(contact, sub) for sub in clause.get("value") or []]
                return all(results) if clause["operator"] == "AND" else any(results)
            value = contact.get(clause.get("field", ""))
            wanted = clause.get("value")
            if clause.get("field") == "email" and isinstance(value, str) and isinstance(wanted, str):
                return value.lower() == wanted.lower()
            return clause.get("operator") == "=" and value == wanted

        with self._lock:
            data = [self._public(c) for c in self.contacts.values() if matches(c, query)]
        return _Answer(200, _list(data))

    def _existing(self, contact_id: str) -> dict[str, Any]:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise _error(404, "not_found", "User Not Found")
        return contact

    def _fields_from(self, body: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in body.items() if k != "avatar"}
        if "avatar" in body:
            fields["avatar"] = {"type": "avatar", "image_url": body["avatar"]} if body["avatar"] else None
        if "email" in fields:
            fields["email_domain"] = (fields["email"] or "").partition("@")[2] or None
        if "custom_attributes" in fields:
            fields["custom_attributes"] = dict(fields["custom_attributes"] or {})
        return fields

    def _store_new(self, body: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        contact: dict[str, Any] = {
            "type": "contact",
            "id": secrets.token_hex(12),
            "workspace_id": WORKSPACE_ID,
            "external_id": None,
            "role": "user",
            "email": None,
            "email_domain": None,
            "phone": None,
            "name": None,
            "owner_id": None,
            "has_hard_bounced": False,
            "marked_email_as_spam": False,
            "unsubscribed_from_emails": False,
            "created_at": now,
            "updated_at": now,
            "signed_up_at": None,
            "last_seen_at": None,
            "last_replied_at": None,
            "last_contacted_at": None,
            "last_email_opened_at": None,
            "last_email_clicked_at": None,
            "language_override": None,
            "browser": None,
            "browser_version": None,
            "browser_language": None,
            "os": None,
            "android_app_name": None,
            "android_app_version": None,
            "android_device": None,
            "android_os_version": None,
            "android_sdk_version": None,
            "android_last_seen_at": None,
            "ios_app_name": None,
            "ios_app_version": None,
            "ios_device": None,
            "ios_os_version": None,
            "ios_sdk_version": None,
            "ios_last_seen_at": None,
            "custom_attributes": {},
            "avatar": None,
            "tags": {"type": "list", "data": [], "url": "", "total_count": 0, "has_more": False},
            "notes": {"type": "list", "data": [], "url": "", "total_count": 0, "has_more": False},
            "companies": {"type": "list", "data": [], "url": "", "total_count": 0, "has_more": False},
            "location": {"type": "location", "country": None, "region": None, "city": None},
            "social_profiles": {"type": "list", "data": []},
        }
        contact.update(self._fields_from({k: v for k, v in body.items() if k != "email_verified"}))
        for name in ("tags", "notes", "companies"):
            contact[name]["url"] = f"/contacts/{contact['id']}/{name}"
        self.contacts[contact["id"]] = contact
        return dict(contact)

    def _public(self, contact: dict[str, Any]) -> dict[str, Any]:
        copied: dict[str, Any] = json.loads(json.dumps(contact))  # a deep copy, as the wire would give
        return copied

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # --- control plane over HTTP ---------------------------------------------------------
    def control(self, method: str, path: str, body: bytes) -> _Answer:
        payload = json.loads(body) if body.strip() else {}
        if path == "/_sandbox/faults" and method == "POST":
            kind = payload.get("kind", "fail")
            count = int(payload.get("count", 1))
            if kind == "fail":
                self.fail_next(count, int(payload.get("status", 503)))
            elif kind == "delay":
                self.delay_next(count, float(payload.get("seconds", 1.0)))
            elif kind == "drop":
                self.drop_next(count, mid_response=bool(payload.get("mid_response", False)))
            else:
                return _Answer(400, {"error": "kind must be fail, delay or drop"})
            return _Answer(200, {"injected": kind, "count": count})
        if path == "/_sandbox/faults" and method == "DELETE":
            self.clear_faults()
            return _Answer(200, {"cleared": True})
        if path == "/_sandbox/rate-limit" and method == "POST":
            self.set_rate_limit(payload.get("limit"), float(payload.get("window_seconds", 10.0)))
            return _Answer(200, {"limit": payload.get("limit")})
        if path == "/_sandbox/failure-rate" and method == "POST":
            probability = float(payload.get("probability", 0.0))
            self.set_failure_rate(probability, int(payload.get("status", 500)), payload.get("seed"))
            return _Answer(200, {"probability": probability})
        if path == "/_sandbox/requests" and method == "GET":
            with self._lock:
                listed = [
                    {"method": r.method, "path": r.path, "status": r.status, "json": r.json}
                    for r in self.requests
                ]
            return _Answer(200, listed)
        return _Answer(404, {"error": "no such control"})


def _list(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "list",
        "data": data,
        "total_count": len(data),
        "pages": {"type": "pages", "page": 1, "per_page": max(len(data), 1), "total_pages": 1},
    }


class _Handler(BaseHTTPRequestHandler):
    sandbox: IntercomSandbox
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # otherwise keep-alive adds ~40 ms per request

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests are the log."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if parts.path.startswith("/_sandbox/"):
            self._send(self.sandbox.control(method, parts.path, body))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        fault = self.sandbox._take_fault(method, parts.path)
        answer = self._answer(fault, method, parts.path, headers, body)
        # Recorded before answering, so a client that has its answer always finds its request here.
        self.sandbox.record(
            RecordedRequest(
                method,
                parts.path,
                dict(parse_qsl(parts.query)),
                headers,
                body,
                parsed,
                answer.status if answer else 0,
            )
        )
        if answer is not None:
            self._send(answer)
            return
        if fault is not None and fault.mid_response:
            self.wfile.write(
                b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"ty'
            )
            self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _answer(
        self, fault: _Fault | None, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> _Answer | None:
        """The answer to send, or None when the connection is to be dropped."""
        sandbox = self.sandbox
        if sandbox._latency:
            time.sleep(sandbox._latency)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "drop":
            sandbox.handle(method, path, headers, body)  # Intercom did the work; the answer is lost
            return None
        if fault is not None and fault.kind == "fail":
            answer = _error(fault.status, _code_for(fault.status), f"Injected failure {fault.status}")
            if fault.body is not None:
                answer.body = fault.body
            return answer
        return sandbox.handle(method, path, headers, body)

    def _send(self, answer: _Answer) -> None:
        payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-Id", str(uuid.uuid4()))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _code_for(status: int) -> str:
    return {429: "rate_limit_exceeded", 401: "unauthorized", 403: "forbidden"}.get(
        status, "service_unavailable" if status >= 500 else "parameter_invalid"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Intercom contacts API sandbox")
    parser.add_argument("--port", type=int, default=8111)
    parser.add_argument("--token", default="sandbox-token")
    parser.add_argument("--rate-limit", type=int, default=None)
    parser.add_argument("--open-reads", action="store_true")
    args = parser.parse_args(argv)
    sandbox = IntercomSandbox(
        token=args.token, port=args.port, rate_limit=args.rate_limit, open_reads=args.open_reads
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with sandbox:
        print(f"Intercom sandbox on {sandbox.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()


if __name__ == "__main__":
    main()

__all__ = ["DEFAULT_CUSTOM_ATTRIBUTES", "IntercomSandbox", "RecordedRequest"]
