"""A local API Gateway (REST, stage v1): HTTP in, the same proxy event API Gateway sends, the function's
answer out. It enforces the API key as the deployed API does, and serves the OpenAPI document.

Runs as its own process (the function's container): `python -m local.gateway --function ID --port N`.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

from local.events import api_gateway_event
from local.functions import Handler, LocalFunction, api_routes, load_function

STAGE = "/v1"
SWAGGER_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"


class Gateway:
    def __init__(self, function: LocalFunction, api_key: str) -> None:
        self.function = function
        self.api_key = api_key
        self.routes = {
            route for route, logical_id in api_routes().items() if logical_id == function.logical_id
        }
        self.handler: Handler = function.load_handler()
        self.lock = threading.Lock()  # one container runs one invocation at a time

    def openapi(self) -> str:
        module = importlib.import_module(self.function.handler_path.rpartition(".")[0])
        spec: str = module.app.get_openapi_json_schema()
        return spec

    def invoke(
        self, method: str, path: str, headers: dict[str, str], query: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if (method, path) not in self.routes:
            return _json(403, {"message": "Missing Authentication Token"})
        if headers.get("x-api-key") != self.api_key:
            return _json(403, {"message": "Forbidden"})
        event = api_gateway_event(method, path, body=body or None, headers=headers, query=query)
        with self.lock:
            try:
                answer = self.handler(event, self.function.context())
            except Exception:  # what API Gateway answers when the integration fails
                return _json(502, {"message": "Internal server error"})
        answer_headers = {k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()}
        answer_headers.update(answer.get("headers") or {})
        text = answer.get("body") or ""
        payload = base64.b64decode(text) if answer.get("isBase64Encoded") else text.encode()
        return int(answer["statusCode"]), answer_headers, payload


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class _HttpHandler(BaseHTTPRequestHandler):
    gateway: Gateway
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # otherwise keep-alive adds ~40 ms per request

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
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if method == "GET" and path == "/openapi.json":
            status, headers, payload = (
                200,
                {"Content-Type": "application/json"},
                self.gateway.openapi().encode(),
            )
        elif method == "GET" and path in {"/docs", "/docs/"}:
            page = generate_swagger_html(
                self.gateway.openapi(),
                f"{SWAGGER_CDN}/swagger-ui-bundle.js",
                f"{SWAGGER_CDN}/swagger-ui.css",
                SWAGGER_CDN,
                None,
            )
            status, headers, payload = 200, {"Content-Type": "text/html"}, page.encode()
        else:
            headers_in = {name.lower(): value for name, value in self.headers.items()}
            status, headers, payload = self.gateway.invoke(
                method, path, headers_in, dict(parse_qsl(parts.query, keep_blank_values=True)), body
            )
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve(gateway: Gateway, port: int) -> ThreadingHTTPServer:
    handler = type("Handler", (_HttpHandler,), {"gateway": gateway})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--function", required=True)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--ready-file", type=Path, help="written with the port once listening")
    args = parser.parse_args(argv)
    server = serve(Gateway(load_function(args.function, {}), args.api_key), args.port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    if args.ready_file:
        args.ready_file.write_text(str(server.server_address[1]))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
