"""moto's DynamoDB behind a lean HTTP front, in a process of its own: the local stack's tables.

A drain spends more CPU here than anywhere else (five writes a contact), and moto's own server
spent more than half of it outside DynamoDB: werkzeug's request handling, Flask's routing, moto's
dispatch between services. This process serves DynamoDB only, so it hands each request straight to
moto's DynamoDB handler (`DynamoHandler.dispatch`, what moto's server calls in the end) from
http.server, and parses each update expression once. The answers are moto's own:
tests/integration/test_local_dynamodb.py runs the same calls against moto's server and this one.

moto's models are not thread-safe (two updates of one item at once can fail with "dictionary changed
size during iteration"), so one request is handled at a time; connections are kept alive, a thread
each. `python -m local.dynamodb --port N --ready-file F`.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import threading
from pathlib import Path
from typing import Any

import moto.core.responses
from moto.core.request import Request
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.responses import DynamoHandler

from local.processes import AwsCallHandler, QuietServer, serve_until_stopped

# moto parses an update expression twice per UpdateItem, and the validator works on a deep copy of
# the tree, never on the parsed one: the same expression string always parses to the same tree.
UpdateExpressionParser.make = staticmethod(functools.lru_cache(maxsize=512)(UpdateExpressionParser.make))  # type: ignore[method-assign]
# And it lists the handler class's methods on every call (as in local/aws_server.py).
moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)

_MOTO = threading.Lock()
SET_BY_THE_SERVER = {"content-length", "server", "date"}


def handle(path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """One DynamoDB call (headers by their lowercase names), answered by moto: (status, headers, body)."""
    path, _, query = path.partition("?")
    server_name, _, server_port = headers.get("host", "localhost").partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port or "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": headers.get("content-type", ""),
    }
    for name, value in headers.items():
        if name not in ("content-type", "content-length"):
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    request = Request(environ)
    try:
        with _MOTO:
            status, answer_headers, content = DynamoHandler.dispatch(
                request, request.raw_url, dict(request.headers)
            )
    except Exception as error:  # what moto's server answers too: a 500, the stack keeps serving
        message = json.dumps({"__type": "InternalFailure", "message": f"moto failed: {error!r}"[:500]})
        return 500, {"Content-Type": "application/x-amz-json-1.0"}, message.encode()
    payload = content.encode() if isinstance(content, str) else bytes(content or b"")
    # http.server writes its own Server and Date, and the handler the length of what it sends
    kept = {str(k): str(v) for k, v in answer_headers.items() if k.lower() not in SET_BY_THE_SERVER}
    return int(status), kept, payload


class _HttpHandler(AwsCallHandler):
    def answer(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return handle(self.path, {name.lower(): value for name, value in self.headers.items()}, body)


def serve(port: int = 0) -> QuietServer:
    """DynamoDB listening on loopback (port 0: a free one), tables empty; call serve_forever() to answer."""
    return QuietServer(("127.0.0.1", port), _HttpHandler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, help="written with the port once listening")
    args = parser.parse_args(argv)
    serve_until_stopped(serve(args.port), args.ready_file)


if __name__ == "__main__":
    main()
