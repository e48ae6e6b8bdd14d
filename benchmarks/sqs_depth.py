"""SQS throughput against queue depth, for moto's server and the local stack's SQS (docs/local-stack.md).

    python -m benchmarks.sqs_depth [--moto] 100 1000 10000

For each depth: a fresh queue filled to it with SendMessageBatch, then 100 more messages sent (10
calls of 10), 100 received and deleted (10 ReceiveMessage of 10, each followed by a
DeleteMessageBatch), and one GetQueueAttributes. Each server runs in its own process on loopback,
as in the stack. Not part of `make bench`: filling moto to 10,000 messages takes a quarter of an hour.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from local.aws import client
from local.processes import wait_ready

BODY = json.dumps({"role": "lead", "email": "someone@example.com"})
ATTRIBUTES = {"OnConflict": {"DataType": "String", "StringValue": "return"}}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(moto: bool, scratch: Path) -> tuple[subprocess.Popen[bytes], str]:
    if moto:
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                client(endpoint, "sqs").list_queues()
                return process, endpoint
            except Exception:
                time.sleep(0.1)
        raise TimeoutError("moto did not start")
    ready = scratch / "sqs-port"
    process = subprocess.Popen([sys.executable, "-m", "local.sqs", "--ready-file", str(ready)])
    return process, f"http://127.0.0.1:{wait_ready(ready, process)}"


def _send_ten(sqs: Any, url: str) -> None:
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(n), "MessageBody": BODY, "MessageAttributes": ATTRIBUTES} for n in range(10)],
    )


def at_depth(sqs: Any, depth: int) -> dict[str, float]:
    url = sqs.create_queue(QueueName=f"depth-{depth}", Attributes={"VisibilityTimeout": "360"})["QueueUrl"]
    started = time.perf_counter()
    for _ in range(depth // 10):
        _send_ten(sqs, url)
    fill = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(10):
        _send_ten(sqs, url)
    send = 100 / (time.perf_counter() - started)
    started, drained = time.perf_counter(), 0
    for _ in range(10):
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )["Messages"]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )
        drained += len(messages)
    receive_delete = drained / (time.perf_counter() - started)
    started = time.perf_counter()
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    attributes_ms = (time.perf_counter() - started) * 1000
    return {
        "depth": depth,
        "fill_s": fill,
        "send_per_s": send,
        "receive_delete_per_s": receive_delete,
        "get_attributes_ms": attributes_ms,
    }


def measure(depths: list[int], *, moto: bool) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory() as scratch:
        process, endpoint = _start(moto, Path(scratch))
        try:
            sqs = client(endpoint, "sqs")
            return [at_depth(sqs, depth) for depth in depths]
        finally:
            process.terminate()
            process.wait(timeout=30)


def report(rows: list[dict[str, float]]) -> str:
    return "\n".join(
        f"   depth {row['depth']:6.0f}: send {row['send_per_s']:6.0f} msg/s, receive+delete "
        f"{row['receive_delete_per_s']:6.0f} msg/s, GetQueueAttributes {row['get_attributes_ms']:6.1f} ms "
        f"(filled in {row['fill_s']:.1f} s)"
        for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--moto", action="store_true", help="moto's server instead of local/sqs.py")
    parser.add_argument("depths", nargs="+", type=int)
    args = parser.parse_args(argv)
    print(("moto server" if args.moto else "local SQS (local/sqs.py)"), flush=True)
    print(report(measure(args.depths, moto=args.moto)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
