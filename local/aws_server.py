"""Local AWS on one endpoint, in its own process: DynamoDB, Secrets Manager, EventBridge and CloudWatch
Logs answered by moto, SQS forwarded to the local SQS (local/sqs.py, a process of its own).

moto handles one request at a time here: its models are not thread-safe (two updates of one DynamoDB
item at once can fail with "dictionary changed size during iteration"), and it is bound by the GIL
anyway, so serialising costs nothing but the errors. The tests' moto (`serve_in_thread`, SQS included)
is served the same way.

Its own process, so that it outlives any function that crashes and shares no interpreter with the
sandbox or the functions; one endpoint, so that `AWS_ENDPOINT_URL` stays the only setting a client
needs (the stack's own functions and poller reach the SQS process directly, through
`AWS_ENDPOINT_URL_SQS`). `python -m local.aws_server --sqs-endpoint URL --port N --ready-file F`.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import logging
import signal
import threading
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonpath_ng.ext
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.processes import announce_ready

# moto delivers each event to each rule target through eight JSONPath expressions, and jsonpath_ng
# builds a parser for every one of them: about 8 ms of moto's single thread per event, which a drain
# publishes one of per contact. The expressions never change, so each is parsed once.
jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)

SQS_TARGET = "AmazonSQS."
SQS_HEADERS = {"content-type", "x-amzn-query-error"}


class LocalAwsApp:
    """The WSGI application: a request for SQS (by its JSON target) to the local SQS, the rest to moto."""

    def __init__(self, sqs_endpoint: str | None) -> None:
        self.sqs_address = urlsplit(sqs_endpoint).netloc if sqs_endpoint else None
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.moto_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if self.sqs_address and target.startswith(SQS_TARGET):
            return self._sqs(environ, start_response, target)
        if self.sqs_address and "/sqs/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
            # The query protocol would reach moto's own, empty SQS and find no queue at all.
            return _answer(start_response, 400, {}, b"the local SQS speaks SQS's JSON protocol only")
        with self.moto_lock:
            return list(self.moto(environ, start_response))

    def _sqs(self, environ: dict[str, Any], start_response: Any, target: str) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        sqs = http.client.HTTPConnection(self.sqs_address, timeout=60)  # long polls last up to 20 s
        try:
            # The caller's Host is kept: queue URLs name the endpoint the caller used
            sqs.request("POST", "/", body, {"X-Amz-Target": target, "Host": environ["HTTP_HOST"]})
            answer = sqs.getresponse()
            payload = answer.read()
        finally:
            sqs.close()
        headers = {name: value for name, value in answer.getheaders() if name.lower() in SQS_HEADERS}
        return _answer(start_response, answer.status, headers, payload)


def _answer(start_response: Any, status: int, headers: dict[str, str], payload: bytes) -> list[bytes]:
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [*headers.items(), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def server(sqs_endpoint: str | None, port: int = 0) -> BaseWSGIServer:
    """Listening on loopback (port 0: a free one); call serve_forever() to answer."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call
    return make_server(
        "127.0.0.1", port, LocalAwsApp(sqs_endpoint), threaded=True, request_handler=MotoRequestHandler
    )


def serve_in_thread() -> tuple[BaseWSGIServer, str]:
    """moto alone (SQS too) on a free loopback port, served by a thread of this process: for tests and
    one-off runs. Returns the server (`shutdown()` then `server_close()` to stop) and its endpoint."""
    aws = server(None)
    threading.Thread(target=aws.serve_forever, name="moto", daemon=True).start()
    return aws, f"http://127.0.0.1:{aws.server_address[1]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqs-endpoint", required=True, help="the local SQS, e.g. http://127.0.0.1:4576")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, help="written with the port once listening")
    args = parser.parse_args(argv)
    aws = server(args.sqs_endpoint, args.port)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: threading.Thread(target=aws.shutdown).start())
    if args.ready_file:
        announce_ready(args.ready_file, str(aws.server_address[1]))
    aws.serve_forever()


if __name__ == "__main__":
    main()
