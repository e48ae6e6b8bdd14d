"""The SQS message contract: the body is a `POST /contacts` body; options travel as message attributes."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from intercom_contacts.models.contact import ContactRequest, OnConflict, field_errors

ON_CONFLICT_ATTRIBUTE = "OnConflict"
IDEMPOTENCY_KEY_ATTRIBUTE = "IdempotencyKey"
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


class InvalidMessage(Exception):
    """The message can never become a contact as it is: it goes to the DLQ with this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ContactMessage:
    request: ContactRequest
    on_conflict: OnConflict
    idempotency_key: str

    def as_idempotent_payload(self) -> dict[str, Any]:
        """What the idempotency store keys and checks: the key, and the request it stood for."""
        return {
            "idempotency_key": self.idempotency_key,
            "request": self.request.to_intercom(),
            "on_conflict": self.on_conflict.value,
        }


def body_fingerprint(request: ContactRequest, on_conflict: OnConflict) -> str:
    """The same contact asked for twice hashes the same, however its JSON was spelled."""
    canonical = json.dumps([request.to_intercom(), on_conflict.value], sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def valid_idempotency_key(value: str) -> bool:
    return bool(IDEMPOTENCY_KEY_PATTERN.match(value))


def parse_on_conflict(value: str | None) -> OnConflict:
    try:
        return OnConflict(value or OnConflict.RETURN)
    except ValueError:
        raise InvalidMessage(
            "INVALID_ATTRIBUTE", f"{ON_CONFLICT_ATTRIBUTE} must be return, update or fail."
        ) from None


def parse_record(record: SQSRecord) -> ContactMessage:
    """Turn an SQS record into a contact to create, or say why it never can be."""
    try:
        body = json.loads(record.body)
    except (ValueError, TypeError, RecursionError):  # RecursionError: hostile nesting
        raise InvalidMessage("INVALID_JSON", "The message body is not valid JSON.") from None
    try:
        request = ContactRequest.model_validate(body)
    except ValidationError as error:
        raise InvalidMessage("VALIDATION_ERROR", describe_validation_error(error)) from None
    on_conflict = parse_on_conflict(_string_attribute(record, ON_CONFLICT_ATTRIBUTE))
    key = _string_attribute(record, IDEMPOTENCY_KEY_ATTRIBUTE)
    if key is not None and not valid_idempotency_key(key):
        raise InvalidMessage(
            "INVALID_ATTRIBUTE", f"{IDEMPOTENCY_KEY_ATTRIBUTE} must be 1-255 printable characters."
        )
    return ContactMessage(request, on_conflict, key or body_fingerprint(request, on_conflict))


def _string_attribute(record: SQSRecord, name: str) -> str | None:
    attribute = record.message_attributes[name]
    return None if attribute is None else attribute.string_value


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field, without echoing the values (they may be personal data)."""
    return "; ".join(f"{field.field}: {field.message}" for field in field_errors(error.errors()))
