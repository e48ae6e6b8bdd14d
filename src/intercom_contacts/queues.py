"""SQS access: send messages, delay a retry, dead-letter with a reason. The message contract is in
models/messages.py; this module only moves messages."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from intercom_contacts.models.messages import (
    BATCH_ID_ATTRIBUTE,
    BATCH_INDEX_ATTRIBUTE,
    IDEMPOTENCY_KEY_ATTRIBUTE,
    ON_CONFLICT_ATTRIBUTE,
    OutgoingMessage,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, SendMessageBatchRequestEntryTypeDef

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024  # SendMessageBatch's total payload limit
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
MAX_DELAY_SECONDS = 15 * 60
MAX_MESSAGE_ATTRIBUTES = 10
REASON_ATTRIBUTES = ("ErrorCode", "ErrorMessage", "FailedAt")
# What a redrive needs to create the contact as first asked and to find its run-log item: kept first
ROUTING_ATTRIBUTES = (
    ON_CONFLICT_ATTRIBUTE,
    IDEMPOTENCY_KEY_ATTRIBUTE,
    BATCH_ID_ATTRIBUTE,
    BATCH_INDEX_ATTRIBUTE,
)


@dataclass(frozen=True)
class SendResult:
    message_id: str | None
    error: str | None = None


def string_attributes(values: dict[str, str]) -> dict[str, MessageAttributeValueTypeDef]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def send_batch(sqs: SQSClient, queue_url: str, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
    """Send every message with SendMessageBatch (10 or 256 KiB a call); entries SQS refused are retried
    once, then reported with SQS's error code. Results are in the order of `messages`."""
    results: list[SendResult | None] = [None] * len(messages)
    pending = list(range(len(messages)))
    for _ in range(2):
        refused: list[tuple[int, str]] = []
        for chunk in _chunks(pending, messages):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {
                    "Id": str(index),
                    "MessageBody": messages[index].body,
                    "MessageAttributes": string_attributes(messages[index].attributes),
                }
                for index in chunk
            ]
            try:
                answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except Exception as error:  # any failure of the call leaves the chunk unsent
                refused.extend((index, type(error).__name__) for index in chunk)
                continue
            for sent in answer.get("Successful", []):
                results[int(sent["Id"])] = SendResult(sent["MessageId"])
            refused.extend(
                (int(failed["Id"]), failed.get("Code", "Unknown")) for failed in answer.get("Failed", [])
            )
        for index, code in refused:
            results[index] = SendResult(None, code)
        pending = [index for index, _ in refused]
        if not pending:
            break
    return [result or SendResult(None, "NotSent") for result in results]


def _chunks(indexes: list[int], messages: Sequence[OutgoingMessage]) -> Iterator[list[int]]:
    chunk: list[int] = []
    size = 0
    for index in indexes:
        item_size = messages[index].size()
        if chunk and (len(chunk) == MAX_BATCH_ENTRIES or size + item_size > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(index)
        size += item_size
    if chunk:
        yield chunk


def delay_retry(sqs: SQSClient, queue_url: str, record: SQSRecord, seconds: float) -> None:
    """Make the record's next receive wait `seconds` (SQS counts whole seconds, at most 12 hours)."""
    sqs.change_message_visibility(
        QueueUrl=queue_url,
        ReceiptHandle=record.receipt_handle,
        VisibilityTimeout=max(0, min(MAX_VISIBILITY_SECONDS, int(seconds))),
    )


def dead_letter(sqs: SQSClient, dlq_url: str, record: SQSRecord, code: str, message: str) -> str:
    """Copy the record to the DLQ with its original body and attributes plus the reason it failed. SQS
    allows 10 attributes: when the producer used them all, its own last ones make room for the reason,
    never the routing attributes."""
    reason = {
        "ErrorCode": code,
        "ErrorMessage": message[:1000] or code,
        "FailedAt": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    original = {
        name: value for name, value in _attributes_of(record).items() if name not in REASON_ATTRIBUTES
    }
    routing_first = sorted(original.items(), key=lambda item: item[0] not in ROUTING_ATTRIBUTES)
    kept = dict(routing_first[: MAX_MESSAGE_ATTRIBUTES - len(reason)])
    answer = sqs.send_message(
        QueueUrl=dlq_url,
        MessageBody=record.body or "",
        MessageAttributes={**kept, **string_attributes(reason)},
    )
    return answer["MessageId"]


def send_copy(sqs: SQSClient, queue_url: str, record: SQSRecord, delay_seconds: float) -> str:
    """The record again, as a new message (its receive count starts over), visible after the delay
    (SQS counts whole seconds, at most 15 minutes)."""
    answer = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=record.body or "",
        MessageAttributes=_attributes_of(record),
        DelaySeconds=max(0, min(MAX_DELAY_SECONDS, int(delay_seconds))),
    )
    return answer["MessageId"]


def _attributes_of(record: SQSRecord) -> dict[str, MessageAttributeValueTypeDef]:
    """The record's String attributes, as SendMessage takes them (Lambda spells them stringValue)."""
    return {
        name: {"DataType": value.get("dataType", "String"), "StringValue": value["stringValue"]}
        for name, value in (record.raw_event.get("messageAttributes") or {}).items()
        if value.get("stringValue") is not None
    }
