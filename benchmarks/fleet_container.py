"""One container of the fleet benchmark, in its own process as Lambda runs it (`benchmarks/fleet.py`
starts them):

    python -m benchmarks.fleet_container worker --out F [--pacing NAME --fleet-size N]
    python -m benchmarks.fleet_container client --out F [--pacing NAME --fleet-size N]
    python -m benchmarks.fleet_container api --out F --rate CALLS_PER_SECOND

`worker`: the worker's handler fed as Lambda's SQS event source mapping feeds it: batches of up to
10, the records it does not report as failed deleted. `client`: only the worker's Intercom client
(its gate, its `WORKER_CONCURRENCY` threads) creating leads as fast as the gate lets it, no AWS: the
pacing at limits the full path cannot reach on this machine. `api`: the API function's handler
called for `POST /contacts` (a sign-up) at a steady rate. Each invocation appends a JSON line to F (when, how
long, what it answered); on SIGTERM the container adds one line with the AWS calls it made, by
operation, and the bytes it logged, and exits. The environment is the function's, as the template
sets it, pointed at moto and the sandbox.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import botocore.client

from benchmarks import fleet_candidates
from local.events import api_gateway_event, sqs_event

AWS_CALLS: Counter[str] = Counter()


class CountingStdout(io.TextIOBase):
    """stdout that counts the bytes written (what CloudWatch Logs would ingest) and drops them."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        return len(text)


class Context:
    """Lambda's context: the invocation's real countdown from the function's timeout."""

    def __init__(self, function_name: str, timeout_seconds: float) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _count_aws_calls() -> None:
    """Every AWS API call of this process, by service and operation (whatever session made it)."""
    make_api_call = botocore.client.BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        AWS_CALLS[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
        return make_api_call(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]


def _ready(out: Any) -> None:
    """Imported and connected: what a warm container is."""
    out.write(json.dumps({"ready": time.time()}) + "\n")
    out.flush()


def run_worker(out: Any, stop: threading.Event) -> None:
    from intercom_contacts.handlers import worker

    sqs = boto3.client("sqs")
    queue_url = os.environ["CONTACTS_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    AWS_CALLS.clear()  # from here on, the calls Lambda and the function make
    _ready(out)
    while not stop.is_set():
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            continue
        started = time.perf_counter()
        answer = worker.lambda_handler(sqs_event(messages, queue_arn=arn), Context("ContactWorker", 60))
        elapsed = time.perf_counter() - started
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        line = {"at": time.time(), "ms": elapsed * 1000, "records": len(messages), "failed": len(failed)}
        out.write(json.dumps(line) + "\n")
        out.flush()


def run_client(out: Any, stop: threading.Event) -> None:
    from intercom_contacts.config import get_settings
    from intercom_contacts.errors import ContactError
    from intercom_contacts.services import intercom_client

    client, tag = intercom_client(), uuid.uuid4().hex[:6]
    numbers = iter(range(10**9))
    lock = threading.Lock()

    def create() -> None:
        while not stop.is_set():
            with lock:
                n = next(numbers)
            body = {"role": "lead", "email": f"{tag}-{n}@client.example"}
            started = time.perf_counter()
            try:
                client.create_contact(body, deadline=time.monotonic() + 59, resend_after_loss=False)
                code = "created"
            except ContactError as error:
                code = error.code
            line = {"at": time.time(), "ms": (time.perf_counter() - started) * 1000, "code": code}
            with lock:
                out.write(json.dumps(line) + "\n")

    _ready(out)
    threads = [threading.Thread(target=create) for _ in range(get_settings().worker_concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.flush()


def run_api(out: Any, stop: threading.Event, rate: float) -> None:
    from intercom_contacts.handlers import api

    interval, n, tag = 1 / rate, 0, uuid.uuid4().hex[:6]
    _ready(out)
    next_call = time.monotonic()
    while not stop.wait(max(0.0, next_call - time.monotonic())):
        next_call += interval
        body = {"role": "user", "email": f"signup-{tag}-{n}@api.example", "external_id": f"su-{tag}-{n}"}
        event = api_gateway_event(
            "POST", "/contacts", body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        answer = api.lambda_handler(event, Context("CreateContact", 29))
        elapsed = time.perf_counter() - started
        line = {"at": time.time(), "ms": elapsed * 1000, "status": answer["statusCode"], "warm": n > 0}
        out.write(json.dumps(line) + "\n")
        out.flush()
        n += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["worker", "client", "api"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pacing", choices=fleet_candidates.NAMES, default="paced")
    parser.add_argument("--fleet-size", type=int, default=1, help="what `divided` divides by")
    parser.add_argument("--rate", type=float, default=1.0, help="api: calls a second")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _count_aws_calls()
    logged = CountingStdout()
    with args.out.open("a") as out, contextlib.redirect_stdout(logged):
        if args.role == "api":
            run_api(out, stop, args.rate)
        else:
            from intercom_contacts import services

            services.rate_limit_gate = fleet_candidates.factory(args.pacing, fleet_size=args.fleet_size)
            (run_worker if args.role == "worker" else run_client)(out, stop)
        store = [
            s for gate in fleet_candidates.BUILT for s in getattr(gate, "store_seconds", [])
        ]  # the bucket's DynamoDB time per call
        summary = {
            "aws_calls": dict(AWS_CALLS),
            "log_bytes": logged.bytes,
            "store_ms": [s * 1000 for s in store],
        }
        out.write(json.dumps({"summary": summary}) + "\n")


if __name__ == "__main__":
    main()
