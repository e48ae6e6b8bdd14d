"""Feed the source queue to the worker the way Lambda's SQS event source mapping does.

Batches of the template's size, the worker invoked with the SQS event, and exactly the records it
did not report as failed deleted (a crashed invocation deletes nothing). Visibility and the redrive
policy are left to the queue, so a failing record really reaches the DLQ after five receives.

Runs as its own process (the worker's container): `python -m local.poller --function ID`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from typing import Any

import boto3

from local.events import sqs_event
from local.functions import LocalFunction, load_function, queue_consumer

log = logging.getLogger("local.poller")


class Poller:
    def __init__(self, function: LocalFunction, queue_url: str, batch_size: int, sqs: Any = None) -> None:
        self.function = function
        self.queue_url = queue_url
        self.batch_size = min(10, batch_size)  # ReceiveMessage's own limit
        self.sqs = sqs or boto3.client("sqs")
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.handler = function.load_handler()

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
        try:
            answer = self.handler(sqs_event(messages, queue_arn=self.queue_arn), self.function.context())
        except Exception:
            log.exception("the worker crashed: the whole batch comes back after its visibility timeout")
            return len(messages)
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("polling failed; trying again")
                stop.wait(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--function", default=None, help="defaults to the template's SQS consumer")
    args = parser.parse_args(argv)
    logical_id, source = queue_consumer()
    function = load_function(args.function or logical_id, {})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Poller(function, os.environ["CONTACTS_QUEUE_URL"], int(source.get("BatchSize", 10))).run(stop)


if __name__ == "__main__":
    main()
