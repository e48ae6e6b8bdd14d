"""A local API Gateway (REST, stage v1): HTTP in, the proxy event API Gateway sends, the function's
answer out, for every route of the template's Api events.

As the deployed API does, it routes by path template (`/contacts/batch/{batch_id}` fills `resource`
and `pathParameters`), answers an unknown route 403 "Missing Authentication Token", enforces the API
key, refuses with 400 a header with a control character in it (a bare CR would otherwise split it
in two) and a Content-Length that is not one decimal count, and answers 502 "Internal server error"
when the function fails, crashes or times out. It serves requests concurrently (a listen backlog
of 128): each invocation goes to one of the function's execution environments (local/runtime.py),
`--processes` of them per function. It also serves the OpenAPI document and Swagger UI (whole: the page
needs no other host, so it works offline).

Runs as its own process: `LOCAL_API_KEY=K python -m local.gateway --resources FILE [--port N]` (the
key in the environment, not argv).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import json
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

from local.events import api_gateway_event
from local.functions import api_routes, load_function
from local.processes import API_KEY_VARIABLE, QuietServer, announce_ready
from local.runtime import FunctionPool, Invoke

STAGE = "/v1"
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # every control character but the tab
DECIMAL = re.compile(r"[0-9]+")
Answer = tuple[int, dict[str, str], bytes]

log = logging.getLogger("local.gateway")


@dataclass(frozen=True)
class Route:
    method: str  # upper case; ANY matches every method
    path: str  # as the template declares it: /contacts/batch/{batch_id}
    function: str  # logical id

    def match(self, method: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
        """How specific the match is (lower wins, as API Gateway prefers literal segments), and the
        values of the path's parameters; None when the route does not match."""
        if self.method not in {method, "ANY"}:
            return None
        wanted, given = self.path.strip("/").split("/"), path.strip("/").split("/")
        rank: list[int] = []
        parameters: dict[str, str] = {}
        for index, segment in enumerate(wanted):
            if segment.startswith("{") and segment.endswith("+}"):  # greedy: the rest of the path
                if index >= len(given) or not given[index]:
                    return None
                parameters[segment[1:-2]] = unquote("/".join(given[index:]))
                return (*rank, 2), parameters
            if index >= len(given) or not given[index]:
                return None
            if segment.startswith("{") and segment.endswith("}"):
                parameters[segment[1:-1]] = unquote(given[index])
                rank.append(1)
            elif segment == given[index]:
                rank.append(0)
            else:
                return None
        return (tuple(rank), parameters) if len(wanted) == len(given) else None


def match_route(routes: Iterable[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway would pick for `method path`, with its path parameters."""
    matches = [(found, route) for route in routes if (found := route.match(method, path))]
    if not matches:
        return None
    (_, parameters), route = min(matches, key=lambda item: item[0][0])
    return route, parameters


def template_routes() -> list[Route]:
    return [Route(method, path, function) for (method, path), function in api_routes().items()]


class Gateway:
    def __init__(
        self,
        routes: Iterable[Route],
        invokers: Mapping[str, Invoke],
        api_key: str,
        openapi: Callable[[], str],
    ) -> None:
        self.routes = list(routes)
        self.invokers = invokers
        self.api_key = api_key
        self.openapi = openapi

    def docs_page(self) -> str:
        """Swagger UI with its code and styles inline, from the copy Powertools ships (what its
        `enable_swagger` serves by default): the page loads nothing from any other host, so it works
        offline. `</` is escaped as Powertools does, so that no text in the document ends the script."""
        script, styles = _swagger_ui_assets()
        return generate_swagger_html(self.openapi().replace("</", "<\\/"), script, styles, "", None)

    def invoke(
        self, method: str, path: str, headers: dict[str, str], query: dict[str, str], body: bytes
    ) -> Answer:
        matched = match_route(self.routes, method, path)
        if matched is None:
            return _json(403, {"message": "Missing Authentication Token"})
        if headers.get("x-api-key") != self.api_key:
            return _json(403, {"message": "Forbidden"})
        route, parameters = matched
        event = api_gateway_event(
            method,
            path,
            body=body or None,
            headers=headers,
            query=query,
            resource=route.path,
            path_parameters=parameters,
        )
        outcome = self.invokers[route.function](event)
        if not outcome.ok:  # what API Gateway answers when the integration fails
            error = outcome.payload.get("errorType") if isinstance(outcome.payload, dict) else None
            log.warning(
                "%s %s: %s %s%s, answered 502",
                method,
                path,
                route.function,
                outcome.status,
                f" ({error})" if error else "",
            )
            return _json(502, {"message": "Internal server error"})
        try:
            return _proxy_answer(outcome.payload)
        except (KeyError, TypeError, ValueError):  # a malformed proxy answer is an integration failure too
            log.warning("%s %s: %s answered no proxy response, answered 502", method, path, route.function)
            return _json(502, {"message": "Internal server error"})


@cache
def _swagger_ui_assets() -> tuple[str, str]:
    folder = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
    return (
        (folder / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (folder / "swagger-ui.min.css").read_text(encoding="utf-8"),
    )


def _proxy_answer(answer: dict[str, Any]) -> Answer:
    headers = {k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()}
    headers.update(answer.get("headers") or {})
    text = answer.get("body") or ""
    payload = base64.b64decode(text) if answer.get("isBase64Encoded") else text.encode()
    return int(answer["statusCode"]), headers, payload


def _json(status: int, body: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def malformed_header(line: bytes) -> bool:
    """A raw header line API Gateway refuses: a folded line, a name that is not a token, or a control
    character (CR, LF, NUL, ...) in the value."""
    line = line.removesuffix(b"\n").removesuffix(b"\r")
    if not line:
        return False  # the blank line that ends the headers
    if line[:1] in {b" ", b"\t"}:
        return True
    name, colon, value = line.partition(b":")
    return not colon or not TOKEN.fullmatch(name) or bool(CONTROL.search(value))


class _LineRecorder:
    """The connection's input, remembering the lines read since the last `take()`."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lines: list[bytes] = []

    def readline(self, limit: int = -1) -> bytes:
        line = self._stream.readline(limit)
        self._lines.append(line)
        return line

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def close(self) -> None:
        self._stream.close()

    def take(self) -> list[bytes]:
        lines, self._lines = self._lines, []
        return lines


class _HttpHandler(BaseHTTPRequestHandler):
    gateway: Gateway
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # otherwise keep-alive adds ~40 ms per request
    recorder: _LineRecorder

    def setup(self) -> None:
        super().setup()
        self.recorder = _LineRecorder(self.rfile)  # type: ignore[arg-type]
        self.rfile = self.recorder  # type: ignore[assignment]

    def parse_request(self) -> bool:
        self.recorder.take()  # the request line: read before this is called
        if not super().parse_request():
            return False
        malformed = any(malformed_header(line) for line in self.recorder.take())
        lengths = self.headers.get_all("Content-Length") or ["0"]
        if malformed or len(lengths) != 1 or not DECIMAL.fullmatch(lengths[0]):
            self.close_connection = True  # the request's framing cannot be trusted either
            self._send(*_json(400, {"message": "Bad Request"}))
            return False
        return True

    def log_message(self, format: str, *args: Any) -> None:
        """The function's own logs say what happened."""

    def __getattr__(self, name: str) -> Any:
        """Every method reaches the gateway, as on API Gateway (which answers unknown ones with 403)."""
        if name.startswith("do_"):
            return lambda: self._serve(name.removeprefix("do_"))
        raise AttributeError(name)

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.removeprefix(STAGE) or "/"
        length = int(self.headers.get("Content-Length") or 0)  # one decimal count: parse_request checked it
        body = self.rfile.read(length) if length else b""
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        docs = method == "GET" and path in {"/docs", "/docs/"}
        if (method == "GET" and path == "/openapi.json") or (docs and query.get("format") == "json"):
            answer: Answer = 200, {"Content-Type": "application/json"}, self.gateway.openapi().encode()
        elif docs:  # the page links its document as `?format=json`, as Powertools' docs route answers
            answer = 200, {"Content-Type": "text/html"}, self.gateway.docs_page().encode()
        else:
            headers_in = {name.lower(): value for name, value in self.headers.items()}
            answer = self.gateway.invoke(method, path, headers_in, query, body)
        self._send(*answer)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve(gateway: Gateway, port: int) -> ThreadingHTTPServer:
    handler = type("Handler", (_HttpHandler,), {"gateway": gateway})
    return QuietServer(("127.0.0.1", port), handler)


def _openapi_of(handler_path: str) -> Callable[[], str]:
    """The document of the Powertools resolver (`app`) beside a handler, built on first use."""
    document: list[str] = []

    def openapi() -> str:
        if not document:
            module = importlib.import_module(handler_path.rpartition(".")[0])
            document.append(module.app.get_openapi_json_schema())
        return document[0]

    return openapi


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument(
        "--resources", type=Path, required=True, help="JSON: what each template Ref resolves to"
    )
    parser.add_argument("--processes", type=int, default=4, help="execution environments per function")
    parser.add_argument(
        "--ready-file", type=Path, help="written with the port once every environment is warm"
    )
    args = parser.parse_args(argv)
    api_key = os.environ.pop(API_KEY_VARIABLE)  # popped: the function processes have no business with it
    values = json.loads(args.resources.read_text())
    routes = template_routes()
    functions = {route.function: load_function(route.function, values) for route in routes}
    pools = {
        logical_id: FunctionPool(function, args.processes, {**os.environ, **function.environment})
        for logical_id, function in functions.items()
    }
    try:
        gateway = Gateway(
            routes,
            {logical_id: pool.invoke for logical_id, pool in pools.items()},
            api_key,
            _openapi_of(functions[routes[0].function].handler_path),
        )
        server = serve(gateway, args.port)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        for pool in pools.values():
            pool.wait_ready()
        if args.ready_file:
            announce_ready(args.ready_file, str(server.server_address[1]))
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
        server.server_close()
    finally:
        for pool in pools.values():
            pool.stop()


if __name__ == "__main__":
    main()
