"""Local AWS on one endpoint, in its own process: Secrets Manager, EventBridge and CloudWatch Logs
answered by moto here, SQS forwarded to the local SQS (local/sqs.py) and DynamoDB to moto's DynamoDB
in a process of its own (local/dynamodb.py, `--dynamodb-endpoint`).

moto handles one request at a time here: its models are not thread-safe, and it is bound by the GIL
anyway, so serialising costs nothing but the errors. A drain spends most of its AWS time in
DynamoDB, which therefore has the machine's second core to itself. The tests' moto
(`serve_in_thread`, SQS and DynamoDB included) is one process.

Its own process, so that it outlives any function that crashes and shares no interpreter with the
sandbox or the functions; one endpoint, so that `AWS_ENDPOINT_URL` stays the only setting a client
needs (the stack's own functions and poller reach SQS and DynamoDB directly, through
`AWS_ENDPOINT_URL_SQS` and `AWS_ENDPOINT_URL_DYNAMODB`).
`python -m local.aws_server [--sqs-endpoint URL] [--dynamodb-endpoint URL] --port N --ready-file F`.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import logging
import sys
import threading
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonpath_ng.ext
import moto.backends
import moto.core.responses
from botocore.exceptions import BotoCoreError, ClientError
from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp
from moto.events.models import Rule
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.aws import client
from local.processes import serve_until_stopped

# moto delivers each event to each rule target through eight JSONPath expressions, and jsonpath_ng
# builds a parser for every one of them: about 8 ms of moto's single thread per event, which a drain
# publishes one of per contact. The expressions never change, so each is parsed once.
jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)  # type: ignore[attr-defined]
# And for every request it lists its own package directory (about 50 stat calls) and the handler
# class's methods: both never change while it runs.
_MOTO_MODULES = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _MOTO_MODULES
moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)

SQS_TARGET = "AmazonSQS."
DYNAMODB_TARGET = "DynamoDB_"
# What a forwarded answer keeps: what the SDK reads (DynamoDB's CRC32 is checked), not hop-by-hop.
FORWARDED_HEADERS = {"content-type", "x-amzn-query-error", "x-amz-crc32", "x-amzn-requestid"}


class LocalAwsApp:
    """The WSGI application: SQS and DynamoDB (by their JSON target) to their own processes when
    given, the rest to moto."""

    def __init__(self, sqs_endpoint: str | None, dynamodb_endpoint: str | None = None) -> None:
        self.sqs_address = urlsplit(sqs_endpoint).netloc if sqs_endpoint else None
        self.dynamodb_address = urlsplit(dynamodb_endpoint).netloc if dynamodb_endpoint else None
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.moto_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if self.sqs_address and target.startswith(SQS_TARGET):
            return _forward(self.sqs_address, environ, start_response)
        if self.sqs_address and "/sqs/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
            # The query protocol would reach moto's own, empty SQS and find no queue at all.
            return _answer(start_response, 400, {}, b"the local SQS speaks SQS's JSON protocol only")
        if self.dynamodb_address and target.startswith(DYNAMODB_TARGET):
            return _forward(self.dynamodb_address, environ, start_response)
        with self.moto_lock:
            return list(self.moto(environ, start_response))


def _forward(address: str, environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    upstream = http.client.HTTPConnection(address, timeout=60)  # SQS long polls last up to 20 s
    try:
        # The caller's Host and signature are kept: queue URLs name the endpoint the caller used
        headers = {
            "X-Amz-Target": environ["HTTP_X_AMZ_TARGET"],
            "Host": environ["HTTP_HOST"],
            "Content-Type": environ.get("CONTENT_TYPE", "application/x-amz-json-1.0"),
            "Authorization": environ.get("HTTP_AUTHORIZATION", ""),
        }
        upstream.request("POST", "/", body, headers)
        answer = upstream.getresponse()
        payload = answer.read()
    finally:
        upstream.close()
    kept = {name: value for name, value in answer.getheaders() if name.lower() in FORWARDED_HEADERS}
    return _answer(start_response, answer.status, kept, payload)


def _answer(start_response: Any, status: int, headers: dict[str, str], payload: bytes) -> list[bytes]:
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [*headers.items(), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def deliver_sqs_targets_to(sqs_endpoint: str) -> None:
    """Rules with an SQS target deliver to the local SQS, where the stack's queues are: moto's
    EventBridge sends to moto's own SQS, which holds no queue here, and its QueueDoesNotExist failed
    every PutEvents. As on AWS, the event (its time in ISO 8601) is the message body, and a target
    that cannot take it fails the delivery, not the PutEvents: it is reported here instead."""
    sqs = client(sqs_endpoint, "sqs")

    def send(rule: Rule, queue_name: str, event: dict[str, Any], group_id: str | None = None) -> None:
        if "time" in event:
            event["time"] = iso_8601_datetime_without_milliseconds(utcfromtimestamp(float(event["time"])))  # type: ignore[arg-type]
        try:
            queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))
        except (BotoCoreError, ClientError) as error:
            print(f"rule {rule.name}: event not delivered to queue {queue_name}: {error}", file=sys.stderr)

    Rule._send_to_sqs_queue = send  # type: ignore[method-assign,assignment]


def server(sqs_endpoint: str | None, port: int = 0, dynamodb_endpoint: str | None = None) -> BaseWSGIServer:
    """Listening on loopback (port 0: a free one); call serve_forever() to answer."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call
    return make_server(
        "127.0.0.1",
        port,
        LocalAwsApp(sqs_endpoint, dynamodb_endpoint),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


def serve_in_thread() -> tuple[BaseWSGIServer, str]:
    """moto alone (SQS too) on a free loopback port, served by a thread of this process: for tests and
    one-off runs. Returns the server (`shutdown()` then `server_close()` to stop) and its endpoint."""
    aws = server(None)
    threading.Thread(target=aws.serve_forever, name="moto", daemon=True).start()
    return aws, f"http://127.0.0.1:{aws.server_address[1]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqs-endpoint", help="the local SQS, e.g. http://127.0.0.1:4576")
    parser.add_argument("--dynamodb-endpoint", help="the moto process serving DynamoDB")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, help="written with the port once listening")
    args = parser.parse_args(argv)
    if args.sqs_endpoint:  # patches moto's class: only in a process of its own, never in a test's
        deliver_sqs_targets_to(args.sqs_endpoint)
    serve_until_stopped(server(args.sqs_endpoint, args.port, args.dynamodb_endpoint), args.ready_file)


if __name__ == "__main__":
    main()
