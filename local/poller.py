"""Feed the source queue to the worker the way Lambda's SQS event source mapping does.

As many pollers as the event source's `MaximumConcurrency`, each receiving a batch of the template's
size and invoking the worker with the SQS event in an execution environment of its own
(local/runtime.py); exactly the records the worker did not report as failed are deleted, and an
invocation that failed, crashed or timed out deletes nothing: its messages come back after their
visibility timeout. Visibility and the redrive policy are left to the queue, so a failing record
really reaches the DLQ after five receives.

Runs as its own process: `python -m local.poller --resources FILE [--processes M]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import boto3

from local.events import sqs_event
from local.functions import LocalFunction, load_function, queue_consumer
from local.processes import announce_ready
from local.runtime import FunctionPool, Invoke, in_process

log = logging.getLogger("local.poller")


class Poller:
    def __init__(
        self,
        function: LocalFunction,
        queue_url: str,
        batch_size: int,
        sqs: Any = None,
        invoke: Invoke | None = None,
        *,
        stop: threading.Event | None = None,
    ) -> None:
        """`invoke` runs the function (by default: its handler, in this process); `stop` ends `run`."""
        self.function = function
        self.stop = stop or threading.Event()
        self.queue_url = queue_url
        self.batch_size = min(10, batch_size)  # ReceiveMessage's own limit
        self.sqs = sqs or boto3.client("sqs")
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.invoke = invoke or in_process(function)

    def poll_once(self, wait_seconds: int = 1) -> int:
        """One receive-invoke-delete turn; returns how many messages were received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        outcome = self.invoke(sqs_event(messages, queue_arn=self.queue_arn))
        if not outcome.ok:
            if not self.stop.is_set():  # the stack stopping ends invocations: that is no crash
                log.warning(
                    "the worker invocation %s: its %d messages come back after their visibility timeout",
                    outcome.status,
                    len(messages),
                )
            return len(messages)
        failed = {item["itemIdentifier"] for item in outcome.payload.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("polling failed; trying again")
                self.stop.wait(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--resources", type=Path, required=True, help="JSON: what each template Ref resolves to"
    )
    parser.add_argument("--processes", type=int, help="default: the event source's MaximumConcurrency")
    parser.add_argument("--ready-file", type=Path, help="written once every environment is warm")
    args = parser.parse_args(argv)
    values = json.loads(args.resources.read_text())
    logical_id, source = queue_consumer()
    function = load_function(logical_id, values)
    concurrency = args.processes or int(source["ScalingConfig"]["MaximumConcurrency"])
    queue_url = values[source["Queue"]["Fn::GetAtt"][0]]
    pool = FunctionPool(function, concurrency, {**os.environ, **function.environment})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    pollers = [
        threading.Thread(
            target=Poller(function, queue_url, int(source["BatchSize"]), invoke=pool.invoke, stop=stop).run,
            name=f"poller-{n}",
            daemon=True,
        )
        for n in range(concurrency)
    ]
    try:
        pool.wait_ready()
        for poller in pollers:
            poller.start()
        if args.ready_file:
            announce_ready(args.ready_file, str(concurrency))
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                pass
    finally:
        stop.set()
        pool.stop()  # an invocation in flight ends with its process: its messages come back later


if __name__ == "__main__":
    main()
