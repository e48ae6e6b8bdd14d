"""The sandbox over HTTP: Intercom's contacts, companies and tags routes, the `/_sandbox/` control
plane, and the `IntercomSandbox` a test starts, breaks and inspects."""

from __future__ import annotations

import json
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

from local.intercom_sandbox.faults import Fault, Faults
from local.intercom_sandbox.schemas import Answer, intercom_error, load_schemas
from local.intercom_sandbox.state import DEFAULT_CUSTOM_ATTRIBUTES, Workspace
from local.intercom_sandbox.tls import write_self_signed_certificate

CONTACT_PATH = re.compile(r"^/contacts/(?P<id>[^/]+)(?P<sub>/unarchive|/companies|/tags)?$")


def route_of(path: str) -> str:
    """The route a path takes, its contact id as `{id}`: `/contacts/{id}/tags`."""
    match = CONTACT_PATH.match(path)
    if match is None or path == "/contacts/search":
        return path
    return f"/contacts/{{id}}{match['sub'] or ''}"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any | None
    status: int

    @property
    def route(self) -> str:
        """`POST /contacts/{id}/tags`: the method and the route (`route_of`) it took."""
        return f"{self.method} {route_of(self.path)}"


class IntercomSandbox:
    """Start it, point the service at `url`, break it on purpose, then read what it was sent."""

    def __init__(
        self,
        *,
        token: str = "sandbox-token",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
        window_seconds: float = 10.0,
        custom_attributes: Mapping[str, str] = DEFAULT_CUSTOM_ATTRIBUTES,
        open_reads: bool = False,
        search_lag_seconds: float = 0.0,
        tls: bool = False,
    ) -> None:
        self._schemas = load_schemas()
        self._workspace = Workspace(
            self._schemas,
            custom_attributes=custom_attributes,
            rate_limit=rate_limit,
            window_seconds=window_seconds,
            search_lag_seconds=search_lag_seconds,
        )
        self._faults = Faults()
        self._host, self._port = host, port
        self._tls = tls
        self._certificate_dir: tempfile.TemporaryDirectory[str] | None = None
        self._ca_file: str | None = None
        self._token = token
        self.open_reads = open_reads
        self._requests_lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def contacts(self) -> dict[str, dict[str, Any]]:
        """The workspace's contacts by id, as Intercom stores them."""
        return self._workspace.contacts

    @property
    def companies(self) -> dict[str, dict[str, Any]]:
        """The workspace's companies by Intercom's id."""
        return self._workspace.companies_and_tags.companies

    @property
    def tags(self) -> dict[str, dict[str, Any]]:
        """The workspace's tags by id."""
        return self._workspace.companies_and_tags.tags

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self._host}:{self._server.server_address[1]}"

    @property
    def ca_file(self) -> str:
        """With `tls=True`, the PEM file a client trusts (SSL_CERT_FILE, REQUESTS_CA_BUNDLE,
        AWS_CA_BUNDLE, urllib3's ca_certs): the sandbox's self-signed certificate."""
        if self._ca_file is None:
            raise RuntimeError("the sandbox is not started with tls=True")
        return self._ca_file

    def start(self) -> IntercomSandbox:
        sandbox = self

        class Handler(_Handler):
            pass

        Handler.sandbox = sandbox
        self._server = _Server((self._host, self._port), Handler)
        if self._tls:
            self._certificate_dir = tempfile.TemporaryDirectory(prefix="intercom-sandbox-")
            certificate, key = write_self_signed_certificate(Path(self._certificate_dir.name))
            self._ca_file = str(certificate)
            self._server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._server.tls.load_cert_chain(certificate, key)
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
        if self._certificate_dir is not None:
            self._certificate_dir.cleanup()
            self._certificate_dir, self._ca_file = None, None

    def __enter__(self) -> IntercomSandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- control ---------------------------------------------------------------------------
    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        with self._requests_lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def route_counts(self) -> Counter[str]:
        """How many requests each route has had (`RecordedRequest.route`), e.g. `POST /tags`."""
        with self._requests_lock:
            return Counter(r.route for r in self.requests)

    def rotate_token(self, token: str) -> None:
        self._token = token

    def set_rate_limit(self, limit: int | None, window_seconds: float = 10.0) -> None:
        self._workspace.set_rate_limit(limit, window_seconds)

    def set_search_lag(self, seconds: float) -> None:
        """A contact created from now on shows in `POST /contacts/search` only `seconds` later, as
        Intercom's eventually consistent search does; `reset()` sets it back to 0."""
        self._workspace.set_search_lag(seconds)

    def fail_next(
        self,
        count: int,
        status: int = 503,
        *,
        method: str | None = None,
        path_prefix: str = "/contacts",
        path: str | None = None,
        body: bytes | None = None,
    ) -> None:
        """The next `count` requests to a path under `path_prefix` fail with `status`; with `path`,
        only those to that path or route (`/tags`, `/contacts/{id}/tags`)."""
        fault = Fault("fail", count, status, method=method, path_prefix=path_prefix, path=path, body=body)
        self._faults.inject(fault)

    def delay_next(
        self, count: int, seconds: float, *, after_handling: bool = False, path: str | None = None
    ) -> None:
        """The next `count` answers come `seconds` late. With `after_handling` the request is handled
        (and recorded) first, so a client that gives up waiting has still, say, created the contact."""
        self._faults.inject(Fault("delay", count, seconds=seconds, after_handling=after_handling, path=path))

    def drop_next(self, count: int, *, mid_response: bool = False, path: str | None = None) -> None:
        self._faults.inject(Fault("drop", count, mid_response=mid_response, path=path))

    def set_latency(self, seconds: float) -> None:
        self._faults.latency = seconds

    def set_failure_rate(self, probability: float, status: int = 500, seed: int | None = None) -> None:
        self._faults.set_failure_rate(probability, status, seed)

    def clear_faults(self) -> None:
        self._faults.clear()

    def archive(self, contact_id: str) -> None:
        self._workspace.archive(contact_id)

    def define_custom_attribute(
        self, name: str, data_type: str = "string", *, api_writable: bool = True
    ) -> dict[str, Any]:
        """As Intercom's UI creates one: no checks; `api_writable=False` makes one the API cannot write."""
        return self._workspace.define_custom_attribute(name, data_type, api_writable=api_writable)

    def archive_custom_attribute(self, name: str) -> None:
        """As archiving it in Intercom's UI does: it leaves the list, and contacts may no longer carry it."""
        self._workspace.archive_custom_attribute(name)

    def delete_company(self, company_id: str) -> None:
        """As deleting it in Intercom's UI does (by Intercom's id): gone, and from every contact."""
        self._workspace.delete_company(company_id)

    def delete_tag(self, tag_id: str) -> None:
        """As deleting it in Intercom's UI does: gone, and from every contact."""
        self._workspace.delete_tag(tag_id)

    def seed_contact(self, **fields: Any) -> dict[str, Any]:
        return self._workspace.seed(fields)

    def reset(self) -> None:
        self._workspace.reset()
        self._faults.clear()
        with self._requests_lock:
            self.requests.clear()

    # --- the API ---------------------------------------------------------------------------
    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes, query: str = ""
    ) -> Answer:
        """Answer one API request as Intercom would (raises nothing; faults are applied by the caller)."""
        is_browse = self.open_reads and method == "GET" and (path == "/contacts" or CONTACT_PATH.match(path))
        if not is_browse:
            if headers.get("authorization") != f"Bearer {self._token}":
                return intercom_error(401, "unauthorized", "Access Token Invalid")
            accept = headers.get("accept", "")
            if not any(
                part.split(";")[0].strip() in {"application/json", "*/*"} for part in accept.split(",")
            ):
                return intercom_error(406, "not_acceptable", "The Accept header must allow application/json")
            version = headers.get("intercom-version")
            if version is not None and version not in self._schemas.versions:
                return intercom_error(
                    400, "intercom_version_invalid", f"Intercom-Version {version!r} is not valid"
                )
        limits, spent = self._workspace.spend_call()
        if spent:
            answer = intercom_error(
                429,
                "rate_limit_exceeded",
                f"Exceeded rate limit of {limits['X-RateLimit-Limit']} in 10_seconds",
            )
        else:
            try:
                answer = Answer(200, self._route(method, path, body, dict(parse_qsl(query))))
            except Answer as raised:
                answer = raised
        answer.headers.update(limits)
        return answer

    def _route(self, method: str, path: str, body: bytes, query: dict[str, str]) -> dict[str, Any]:
        workspace = self._workspace
        match = CONTACT_PATH.match(path)
        contact_id = unquote(match["id"]) if match else ""
        routes: dict[str, Callable[[], dict[str, Any]]] = {
            "GET /data_attributes": lambda: workspace.list_attributes(query.get("model")),
            "POST /data_attributes": lambda: workspace.create_attribute(_json_object(body)),
            "POST /contacts": lambda: workspace.create(_json_object(body)),
            "GET /contacts": workspace.list_contacts,
            "POST /contacts/search": lambda: workspace.search(_json_object(body)),
            "GET /contacts/{id}": lambda: workspace.get(contact_id),
            "PUT /contacts/{id}": lambda: workspace.update(contact_id, _json_object(body)),
            "POST /contacts/{id}/unarchive": lambda: workspace.unarchive(contact_id),
            "POST /contacts/{id}/companies": lambda: workspace.attach_company(contact_id, _json_object(body)),
            "POST /contacts/{id}/tags": lambda: workspace.tag_contact(contact_id, _json_object(body)),
            "POST /companies": lambda: workspace.create_or_update_company(_json_object(body)),
            "GET /companies": lambda: workspace.find_companies(query),
            "POST /tags": lambda: workspace.find_or_create_tag(_json_object(body)),
            "GET /tags": workspace.list_tags,
        }
        route = routes.get(f"{method} {route_of(path)}")
        if route is None:
            raise intercom_error(404, "not_found", "Resource Not Found")
        return route()

    def _record(self, request: RecordedRequest) -> None:
        with self._requests_lock:
            self.requests.append(request)

    # --- control plane over HTTP ---------------------------------------------------------
    def _control(self, method: str, path: str, body: bytes) -> Answer:
        payload = json.loads(body) if body.strip() else {}
        if path == "/_sandbox/faults" and method == "POST":
            kind = payload.get("kind", "fail")
            count = int(payload.get("count", 1))
            target = payload.get("path")
            if target is not None and not (isinstance(target, str) and target.startswith("/")):
                return Answer(400, {"error": "path must be a path such as /tags or /contacts/{id}/tags"})
            if kind == "fail":
                self.fail_next(count, int(payload.get("status", 503)), path=target)
            elif kind == "delay":
                after_handling = bool(payload.get("after_handling", False))
                seconds = float(payload.get("seconds", 1.0))
                self.delay_next(count, seconds, after_handling=after_handling, path=target)
            elif kind == "drop":
                self.drop_next(count, mid_response=bool(payload.get("mid_response", False)), path=target)
            else:
                return Answer(400, {"error": "kind must be fail, delay or drop"})
            return Answer(200, {"injected": kind, "count": count, "path": target})
        if path == "/_sandbox/faults" and method == "DELETE":
            self.clear_faults()
            return Answer(200, {"cleared": True})
        if path == "/_sandbox/rate-limit" and method == "POST":
            self.set_rate_limit(payload.get("limit"), float(payload.get("window_seconds", 10.0)))
            return Answer(200, {"limit": payload.get("limit")})
        if path == "/_sandbox/search-lag" and method == "POST":
            seconds = float(payload.get("seconds", 0.0))
            self.set_search_lag(seconds)
            return Answer(200, {"seconds": seconds})
        if path == "/_sandbox/attributes" and method == "POST":
            defined = self.define_custom_attribute(
                str(payload["name"]),
                str(payload.get("data_type", "string")),
                api_writable=bool(payload.get("api_writable", True)),
            )
            return Answer(200, {"defined": payload["name"], "data_type": defined["data_type"]})
        if path == "/_sandbox/failure-rate" and method == "POST":
            probability = float(payload.get("probability", 0.0))
            self.set_failure_rate(probability, int(payload.get("status", 500)), payload.get("seed"))
            return Answer(200, {"probability": probability})
        if path == "/_sandbox/requests" and method == "GET":
            with self._requests_lock:
                listed = [
                    {"method": r.method, "path": r.path, "route": r.route, "status": r.status, "json": r.json}
                    for r in self.requests
                ]
            return Answer(200, listed)
        return Answer(404, {"error": "no such control"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Load tests connect 50+ clients at once; http.server's backlog of 5 drops most of their SYNs.
    request_queue_size = 128
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.tls is not None:
            # The handshake happens on the connection's own thread, so one slow client cannot stall
            # the accepting one.
            connection = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hung up or refused the certificate: tests do both on purpose."""
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)


def _parse_json(body: bytes) -> Any:
    """Parse as Intercom does: NaN, Infinity and -Infinity, which Python's json accepts, are refused."""
    return json.loads(body, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = _parse_json(body or b"null")
    except ValueError:
        raise intercom_error(400, "parameter_invalid", "The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise intercom_error(400, "parameter_invalid", "The request body must be a JSON object")
    return value


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
            self._send(self.sandbox._control(method, parts.path, body))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            parsed = _parse_json(body) if body else None
        except ValueError:
            parsed = None
        fault = self.sandbox._faults.take(method, parts.path, route_of(parts.path))
        answer = self._answer(fault, method, parts.path, headers, body, query=parts.query)
        # Recorded before answering, so a client that has its answer always finds its request here.
        self.sandbox._record(
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
        if fault is not None and fault.kind == "delay" and fault.after_handling:
            time.sleep(fault.seconds)  # the work is done; the answer is on its way
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
        self, fault: Fault | None, method: str, path: str, headers: dict[str, str], body: bytes, *, query: str
    ) -> Answer | None:
        """The answer to send, or None when the connection is to be dropped."""
        sandbox = self.sandbox
        if sandbox._faults.latency:
            time.sleep(sandbox._faults.latency)
        if fault is not None and fault.kind == "delay" and not fault.after_handling:
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "drop":
            sandbox._handle(method, path, headers, body, query)  # Intercom did the work; the answer is lost
            return None
        if fault is not None and fault.kind == "fail":
            return fault.failure()
        return sandbox._handle(method, path, headers, body, query)

    def _send(self, answer: Answer) -> None:
        payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-Id", str(uuid.uuid4()))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
