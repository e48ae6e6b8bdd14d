"""What runs inside a fresh process for the benchmark, in the runtime venv (boto3 only, as Lambda's).

    python -m benchmarks.child cold <code dir> <module> <warm requests>
    python -m benchmarks.child warm <code dir> <pairs> <total>
    python -m benchmarks.child restored <code dir> <runs>
    python -m benchmarks.child batch <code dir> <runs>

The code dir goes first on sys.path, as /var/task does on Lambda; boto3 comes from the interpreter's
own site-packages, as the runtime provides it. Stdout carries what the handler writes there in Lambda
(JSON log lines, EMF metric documents), unbuffered as Lambda's runtime writes it, into a pipe the
harness drains; the harness's own figures are the lines that start with `BENCH `.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

PREFIX = "BENCH "


def _send(figures: dict[str, Any]) -> None:
    sys.stdout.write(PREFIX + json.dumps(figures) + "\n")
    sys.stdout.flush()


def _event(n: int) -> dict[str, Any]:
    body = json.dumps({"role": "lead", "email": f"bench-{uuid.uuid4().hex[:12]}-{n}@example.com"})
    return {
        "resource": "/contacts",
        "path": "/contacts",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "v1",
            "resourcePath": "/contacts",
            "httpMethod": "POST",
        },
        "body": body,
        "isBase64Encoded": False,
    }


class _Context:
    function_name = "CreateContactFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CreateContactFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process. Not getrusage's maxrss: Linux carries that over
    from the parent across exec, so a child of a big process reports the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _TimeInCalls:
    """Adds up the time spent inside Intercom and AWS calls: urllib3's PoolManager (Intercom) and whole
    boto3 calls (their HTTP, and botocore's own serialising and signing, which the floor's warm request
    has none of). A request's time minus this is the handler's own time. Not the SDK peer's: httpx
    streams the answer, so part of its reading happens outside any call."""

    def __init__(self) -> None:
        self.seconds, self._depth = 0.0, 0
        import urllib3
        from botocore.client import BaseClient

        self._wrap(urllib3.PoolManager, "urlopen")
        self._wrap(BaseClient, "_make_api_call")

    def _wrap(self, cls: Any, name: str) -> None:
        call = getattr(cls, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds += time.perf_counter() - started

        setattr(cls, name, timed)


def cold(code_dir: str, module: str, warm_requests: int) -> None:
    """Init (the handler module's import), the first request, then warm ones in the same process.

    The timestamps are CLOCK_MONOTONIC, which the harness shares: it subtracts its own start time.
    """
    sys.path.insert(0, code_dir)
    handler = importlib.import_module(module).lambda_handler
    initialised = time.monotonic()
    status = handler(_event(0), _Context())["statusCode"]
    answered = time.monotonic()
    _send({"status": status, "initialised": initialised, "answered": answered})
    in_calls = _TimeInCalls()
    warm, own = [], []
    for n in range(1, warm_requests + 1):
        in_calls.seconds = 0.0
        started = time.perf_counter()
        handler(_event(n), _Context())
        elapsed = time.perf_counter() - started
        warm.append(elapsed * 1000)
        own.append((elapsed - in_calls.seconds) * 1000)
    _send({"warm_ms": warm, "own_ms": own, "peak_rss_mb": _status_mb("VmHWM")})


def warm(code_dir: str, pairs: int, total: int) -> None:
    """The handler against the same I/O done by hand: a keep-alive POST to Intercom and the outcome
    event's PutEvents, the two alternated so drift hits both."""
    sys.path.insert(0, code_dir)
    import boto3
    import urllib3

    from intercom_contacts import services
    from intercom_contacts.handlers import api

    handler = api.lambda_handler
    reads: list[int] = []
    services.secrets_provider().client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append(1)
    )
    handler(_event(0), _Context())  # the cold start is not part of the warm figures
    bare = urllib3.PoolManager()
    events = boto3.client("events")
    url = os.environ["INTERCOM_BASE_URL"] + "/contacts"
    headers = {"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}", "Accept": "application/json"}
    entry = {"Source": "bench", "DetailType": "Contact Created", "EventBusName": os.environ["EVENT_BUS_NAME"]}
    bare.request("POST", url, body=_event(0)["body"], headers=headers)  # its TLS handshake, not timed
    events.put_events(Entries=[{**entry, "Detail": "{}"}])
    handled_ms, by_hand_ms, overheads = [], [], []
    for n in range(pairs):
        event = _event(n)
        started = time.perf_counter()
        status = handler(event, _Context())["statusCode"]
        handled = time.perf_counter() - started
        started = time.perf_counter()
        bare.request("POST", url, body=_event(n)["body"], headers=headers)
        events.put_events(Entries=[{**entry, "Detail": json.dumps({"role": "lead", "contact_id": str(n)})}])
        by_hand = time.perf_counter() - started
        assert status == 201, status
        handled_ms.append(handled * 1000)
        by_hand_ms.append(by_hand * 1000)
        overheads.append((handled - by_hand) * 1000)
    rss_after_pairs = _status_mb("VmRSS")
    for n in range(pairs, total):
        handler(_event(n), _Context())
    _send(
        {
            "overhead_ms": overheads,
            "handled_ms": statistics.median(handled_ms),
            "by_hand_ms": statistics.median(by_hand_ms),
            "rss_mb_after_pairs": rss_after_pairs,
            "rss_mb_after_total": _status_mb("VmRSS"),
            "peak_rss_mb": _status_mb("VmHWM"),
            "secret_reads": len(reads),
            "requests": total,
        }
    )


def restored(code_dir: str, runs: int) -> None:
    """SnapStart's share of a cold start that can be measured here: what a restored environment still
    does before its first answer. This process imports the handler and runs the before-snapshot hooks
    once, as Lambda does when it publishes a version; each run forks it (the restore) and times, from
    the fork, the after-restore hooks and the first request. Lambda's own restore is not included."""
    sys.path.insert(0, code_dir)
    import snapshot_restore_py  # in Lambda's runtime, so in the benchmark's runtime venv too

    from intercom_contacts.handlers import api

    for func, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        func(*args, **kwargs)
    timings = []
    for n in range(runs):
        read, write = os.pipe()
        started = time.perf_counter()
        if os.fork() == 0:  # the restored environment
            for func, args, kwargs in snapshot_restore_py.get_after_restore():
                func(*args, **kwargs)
            status = api.lambda_handler(_event(n), _Context())["statusCode"]
            os.write(write, json.dumps([status, (time.perf_counter() - started) * 1000]).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as answer:
            status, elapsed = json.loads(answer.read())
        os.wait()
        assert status == 201, status
        timings.append(elapsed)
    _send({"restored_ms": timings})


def _sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The worker's event, as the SQS event source builds it from ReceiveMessage's answer."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": os.environ["AWS_REGION"],
            }
            for message in messages
        ]
    }


def batch(code_dir: str, runs: int) -> None:
    """A worker batch of 10 real SQS messages against one synchronous API call (the harness makes
    Intercom answer after 100 ms)."""
    sys.path.insert(0, code_dir)
    import boto3

    from intercom_contacts.handlers import api, worker

    sqs = boto3.client("sqs")
    queue_url = os.environ["CONTACTS_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    one, ten = [], []
    for run in range(runs):
        started = time.perf_counter()
        assert api.lambda_handler(_event(run), _Context())["statusCode"] == 201
        one.append((time.perf_counter() - started) * 1000)
        for n in range(10):
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=json.dumps(
                    {"role": "lead", "email": f"b{run}-{n}-{uuid.uuid4().hex[:8]}@example.com"}
                ),
            )
        messages: list[dict[str, Any]] = []
        while len(messages) < 10:
            messages += sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
        started = time.perf_counter()
        answer = worker.lambda_handler(_sqs_event(messages, arn), _Context())
        ten.append((time.perf_counter() - started) * 1000)
        assert answer == {"batchItemFailures": []}, answer
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    _send({"one_call_ms": one, "batch_of_10_ms": ten})


if __name__ == "__main__":
    mode, code, *numbers = sys.argv[1:]
    if mode == "cold":
        cold(code, numbers[0], int(numbers[1]))
    elif mode == "warm":
        warm(code, int(numbers[0]), int(numbers[1]))
    elif mode == "restored":
        restored(code, int(numbers[0]))
    else:
        batch(code, int(numbers[0]))
