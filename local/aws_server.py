"""Local AWS on one endpoint, in its own process: SQS answered by local/sqs.py, everything else
(DynamoDB, Secrets Manager) by moto.

Its own process, so that it outlives any function that crashes and shares no interpreter with the
sandbox or the functions; one endpoint, so that `AWS_ENDPOINT_URL` stays the only setting a client
needs. `python -m local.aws_server --port N --ready-file F` (F gets the port once it listens).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.processes import announce_ready
from local.sqs import LocalSqs

SQS_TARGET = "AmazonSQS."


class LocalAwsApp:
    """The WSGI application: a request for SQS (by its JSON target) to LocalSqs, the rest to moto."""

    def __init__(self, sqs: LocalSqs) -> None:
        self.sqs = sqs
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(SQS_TARGET):
            if "/sqs/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
                # The query protocol would reach moto's own, empty SQS and find no queue at all.
                return _answer(start_response, 400, {}, b"the local SQS speaks SQS's JSON protocol only")
            answer: Iterable[bytes] = self.moto(environ, start_response)
            return answer
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        base_url = f"{environ['wsgi.url_scheme']}://{environ['HTTP_HOST']}"
        status, headers, payload = self.sqs.handle(target, body, base_url)
        return _answer(start_response, status, headers, payload)


def _answer(start_response: Any, status: int, headers: dict[str, str], payload: bytes) -> list[bytes]:
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [*headers.items(), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def server(port: int = 0) -> BaseWSGIServer:
    """Listening on loopback (port 0: a free one); call serve_forever() to answer."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call
    return make_server(
        "127.0.0.1", port, LocalAwsApp(LocalSqs()), threaded=True, request_handler=MotoRequestHandler
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, help="written with the port once listening")
    args = parser.parse_args(argv)
    aws = server(args.port)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: threading.Thread(target=aws.shutdown).start())
    if args.ready_file:
        announce_ready(args.ready_file, str(aws.server_address[1]))
    aws.serve_forever()


if __name__ == "__main__":
    main()
