"""Move dead-lettered contacts back to the source queue once the cause is fixed.

    python -m intercom_contacts.redrive                  # everything, with SQS's StartMessageMoveTask
    python -m intercom_contacts.redrive --list           # what is there, grouped by ErrorCode
    python -m intercom_contacts.redrive --reason CODE    # only that ErrorCode [--dry-run]

Queue URLs come from CONTACTS_QUEUE_URL / CONTACTS_DLQ_URL or --queue-url / --dlq-url.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from intercom_contacts.queues import REASON_ATTRIBUTES

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

NO_REASON = "(none: moved by the queue's redrive policy)"
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED"}
UNSUPPORTED_STATUSES = {500, 501}  # how emulators (moto) answer an action they do not implement
HOLD_SECONDS = 60  # messages in hand stay invisible this long; released again when not moved


class Redrive:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        dlq_url: str,
        *,
        say: Callable[[str], None] = print,
        poll_seconds: float = 2.0,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self.say = say
        self.poll_seconds = poll_seconds

    def move_all(self) -> int:
        """SQS's own move task: every DLQ message back to the source queue, at SQS's pace."""
        dlq_arn, queue_arn = self._arn(self.dlq_url), self._arn(self.queue_url)
        task = self.sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=queue_arn)
        self.say(f"move task started: {task['TaskHandle'][:24]}...")
        while True:
            tasks = self.sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1)["Results"]
            current = tasks[0] if tasks else {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 0}
            moved = current.get("ApproximateNumberOfMessagesMoved", 0)
            total = current.get("ApproximateNumberOfMessagesToMove", moved)
            self.say(f"{current['Status']}: {moved} of {total} moved")
            if current["Status"] in FINAL_STATES:
                if current["Status"] != "COMPLETED":
                    raise RuntimeError(
                        f"the move task ended {current['Status']}: {current.get('FailureReason')}"
                    )
                return moved
            time.sleep(self.poll_seconds)

    def list_reasons(self) -> Counter[str]:
        """Count the DLQ's messages by ErrorCode, with a sample of each; changes nothing."""
        held = list(self._receive_all())
        counts = Counter(_reason(message) for message in held)
        samples = {_reason(message): message for message in reversed(held)}
        for code, count in counts.most_common():
            sample = _attribute(samples[code], "ErrorMessage") or "-"
            self.say(f"{count:6d}  {code}\n        e.g. {sample[:200]}")
        if not held:
            self.say("the dead-letter queue is empty")
        self._release(held)
        return counts

    def move_reason(self, code: str | None, *, dry_run: bool = False) -> int:
        """Move the messages dead-lettered with `code` (all with None): send to the source, then delete."""
        held = list(self._receive_all())
        chosen = [message for message in held if code is None or _reason(message) == code]
        if not dry_run:
            for message in chosen:
                self.sqs.send_message(
                    QueueUrl=self.queue_url,
                    MessageBody=message["Body"],
                    MessageAttributes={
                        name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
                        for name, value in message.get("MessageAttributes", {}).items()
                        if name not in REASON_ATTRIBUTES and "StringValue" in value
                    },
                )
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])
        verb = "would move" if dry_run else "moved"
        self.say(
            f"{verb} {len(chosen)} message(s) with ErrorCode {code or 'any'}; {len(held) - len(chosen)} left"
        )
        self._release([message for message in held if dry_run or message not in chosen])
        return len(chosen)

    def _receive_all(self) -> Iterator[MessageTypeDef]:
        while messages := self.sqs.receive_message(
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=HOLD_SECONDS,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", []):
            yield from messages

    def _release(self, messages: list[MessageTypeDef]) -> None:
        for start in range(0, len(messages), 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, message in enumerate(messages[start : start + 10])
                ],
            )

    def _arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]


def _attribute(message: MessageTypeDef, name: str) -> str | None:
    value: Any = message.get("MessageAttributes", {}).get(name, {})
    text = value.get("StringValue")
    return text if isinstance(text, str) else None


def _reason(message: MessageTypeDef) -> str:
    return _attribute(message, "ErrorCode") or NO_REASON


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="redrive", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--queue-url", default=os.environ.get("CONTACTS_QUEUE_URL"))
    parser.add_argument("--dlq-url", default=os.environ.get("CONTACTS_DLQ_URL"))
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="count the DLQ's messages by ErrorCode")
    action.add_argument("--reason", metavar="CODE", help="move only messages with this ErrorCode")
    parser.add_argument("--dry-run", action="store_true", help="with --reason: say what would move")
    args = parser.parse_args(argv)
    if not (args.queue_url and args.dlq_url):
        parser.error("set CONTACTS_QUEUE_URL and CONTACTS_DLQ_URL, or pass --queue-url and --dlq-url")
    if args.dry_run and not args.reason:
        parser.error("--dry-run goes with --reason")

    redrive = Redrive(boto3.client("sqs"), args.queue_url, args.dlq_url)
    try:
        if args.list:
            redrive.list_reasons()
        elif args.reason:
            redrive.move_reason(args.reason, dry_run=args.dry_run)
        else:
            try:
                redrive.move_all()
            except ClientError as error:
                if (
                    error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                    not in UNSUPPORTED_STATUSES
                ):
                    raise
                print("this SQS endpoint cannot run a message move task (an emulator?); moving by hand")
                redrive.move_reason(None)
    except ClientError as error:
        print(f"redrive failed: {error.response['Error'].get('Code')}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
