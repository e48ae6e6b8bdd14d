"""The SQS message contract, both ways: the body is a `POST /contacts` body; options travel as String
message attributes. `to_message` writes it (the batch endpoint), `parse_record` reads it (the worker);
any other producer writes the same. Items of a `POST /contacts/batch` also carry `BatchId` and
`BatchIndex`, where the worker records their outcome in the run log; other producers leave them out.

Idempotency keys: a caller's `Idempotency-Key` header is at most 200 characters, because each item of
a batch is sent with `<key>:<index>` (up to 4 more); the worker accepts up to 255 from any producer.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from intercom_contacts.models import strict_json
from intercom_contacts.models.batch import BATCH_ID_PATTERN, MAX_BATCH_ITEMS
from intercom_contacts.models.contact import ContactRequest, OnConflict, field_errors

ON_CONFLICT_ATTRIBUTE = "OnConflict"
IDEMPOTENCY_KEY_ATTRIBUTE = "IdempotencyKey"
BATCH_ID_ATTRIBUTE = "BatchId"
BATCH_INDEX_ATTRIBUTE = "BatchIndex"
API_IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"  # printable ASCII, no spaces; room for ":999"
MESSAGE_IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


class InvalidMessage(Exception):
    """The message can never become a contact as it is: it goes to the DLQ with this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to send: its body and its String message attributes."""

    body: str
    attributes: dict[str, str] = field(default_factory=dict)

    def size(self) -> int:
        return len(self.body.encode()) + sum(len(k) + len(v.encode()) for k, v in self.attributes.items())


@dataclass(frozen=True)
class BatchItem:
    """Where a message stands in the run log: its batch and its position in the posted `contacts`."""

    batch_id: str
    index: int


@dataclass(frozen=True)
class ContactMessage:
    """A received message: the contact to create, how to treat a duplicate, and its idempotency key
    (the producer's, or a hash of the body when it gave none)."""

    request: ContactRequest
    on_conflict: OnConflict
    idempotency_key: str
    caller_key: str | None = None  # the producer's own key, when it gave one
    batch_item: BatchItem | None = None


def item_idempotency_key(batch_key: str | None, index: int) -> str | None:
    """The key of a batch's item: the batch's key and the item's position, so resending the same batch
    with the same key creates nothing twice."""
    return f"{batch_key}:{index}" if batch_key else None


def to_message(
    request: ContactRequest,
    on_conflict: OnConflict,
    idempotency_key: str | None,
    batch_item: BatchItem | None = None,
) -> OutgoingMessage:
    attributes = {ON_CONFLICT_ATTRIBUTE: on_conflict.value}
    if idempotency_key:
        attributes[IDEMPOTENCY_KEY_ATTRIBUTE] = idempotency_key
    if batch_item:
        attributes[BATCH_ID_ATTRIBUTE] = batch_item.batch_id
        attributes[BATCH_INDEX_ATTRIBUTE] = str(batch_item.index)
    return OutgoingMessage(json.dumps(request.to_body(), separators=(",", ":")), attributes)


def body_fingerprint(request: ContactRequest, on_conflict: OnConflict) -> str:
    """The same contact asked for twice hashes the same, however its JSON was spelled."""
    canonical = json.dumps([request.to_body(), on_conflict.value], sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def parse_record(record: SQSRecord) -> ContactMessage:
    """Turn an SQS record into a contact to create, or say why it never can be."""
    try:
        body = strict_json.loads(record.body)
    except (ValueError, TypeError, RecursionError):  # RecursionError: hostile nesting
        raise InvalidMessage("INVALID_JSON", "The message body is not valid JSON.") from None
    try:
        request = ContactRequest.model_validate(body)
    except ValidationError as error:
        raise InvalidMessage("VALIDATION_ERROR", describe_validation_error(error)) from None
    on_conflict = _on_conflict(_string_attribute(record, ON_CONFLICT_ATTRIBUTE))
    key = _string_attribute(record, IDEMPOTENCY_KEY_ATTRIBUTE)
    if key is not None and not MESSAGE_IDEMPOTENCY_KEY_PATTERN.match(key):
        raise InvalidMessage(
            "INVALID_ATTRIBUTE", f"{IDEMPOTENCY_KEY_ATTRIBUTE} must be 1-255 printable characters."
        )
    has_batch = any(
        _string_attribute(record, n) is not None for n in (BATCH_ID_ATTRIBUTE, BATCH_INDEX_ATTRIBUTE)
    )
    if has_batch and batch_item_of(record) is None:
        raise InvalidMessage(
            "INVALID_ATTRIBUTE",
            f"{BATCH_ID_ATTRIBUTE} and {BATCH_INDEX_ATTRIBUTE} must name a batch item this service queued.",
        )
    return ContactMessage(
        request, on_conflict, key or body_fingerprint(request, on_conflict), key, batch_item_of(record)
    )


def batch_item_of(record: SQSRecord) -> BatchItem | None:
    """The run-log item a message stands for; None for a message that is not a batch's item."""
    batch_id = _string_attribute(record, BATCH_ID_ATTRIBUTE)
    index = _string_attribute(record, BATCH_INDEX_ATTRIBUTE)
    if batch_id is None and index is None:
        return None
    if not (batch_id and BATCH_ID_PATTERN.match(batch_id) and index and index.isdigit()):
        return None  # not one this service wrote: parse_record refuses the message
    return BatchItem(batch_id, int(index)) if int(index) < MAX_BATCH_ITEMS else None


def _on_conflict(value: str | None) -> OnConflict:
    try:
        return OnConflict(value or OnConflict.RETURN)
    except ValueError:
        raise InvalidMessage(
            "INVALID_ATTRIBUTE", f"{ON_CONFLICT_ATTRIBUTE} must be return, update or fail."
        ) from None


def _string_attribute(record: SQSRecord, name: str) -> str | None:
    attribute = record.message_attributes[name]
    return None if attribute is None else attribute.string_value


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field, without echoing the values (they may be personal data)."""
    return "; ".join(f"{field.field}: {field.message}" for field in field_errors(error.errors()))
