"""Each record checked as the service will check it, with its own request model, before anything is sent.

Duplicates within the file: a valid row with the same role and email (any case), or the same role and
external_id, as an earlier valid row is the same contact: it is not sent, and the results show it as
`duplicate` with the first row's contact. Intercom does not deduplicate leads, so a repeated lead row
would create a second lead; a repeated user row would race its twin inside one batch, and which one's
fields win would be luck.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from intercom_contacts.importer.chunks import MAX_ROW_BYTES
from intercom_contacts.importer.mapping import ColumnMapping, RowRejected
from intercom_contacts.importer.source import Record
from intercom_contacts.models.contact import ContactRequest, field_errors


@dataclass(frozen=True)
class CheckedRow:
    """A record after checking: `body` (and its identities) when valid, else `code` and `message`.

    `company_id` and `tags` are the row's, each joined with the tag separator, for the results file."""

    row: int
    role: str = ""
    email: str | None = None
    external_id: str | None = None
    company_id: str | None = None
    tags: str | None = None
    body: bytes | None = None
    identities: tuple[str, ...] = ()
    code: str | None = None
    message: str | None = None


def check(record: Record, mapping: ColumnMapping) -> CheckedRow:
    if record.problem is not None:
        return CheckedRow(record.row, code="MALFORMED_ROW", message=f"The row {record.problem}.")
    try:
        fields = mapping.contact(record.values)
    except RowRejected as rejected:
        return CheckedRow(record.row, code=rejected.code, message=f"{rejected.message}.")
    email, external_id = _text(fields.get("email")), _text(fields.get("external_id"))
    try:
        request = ContactRequest.model_validate(fields)
    except ValidationError as error:
        problems = field_errors(error.errors())
        listed = "; ".join(f"{problem.field} {problem.message}" for problem in problems)
        company_id, tags = _companies_and_tags(fields, mapping.tag_separator)
        return CheckedRow(
            record.row,
            email=email,
            external_id=external_id,
            company_id=company_id,
            tags=tags,
            code="VALIDATION_ERROR",
            message=f"Invalid fields: {listed}.",
        )
    contact = request.to_body()
    company_id, tags = _companies_and_tags(contact, mapping.tag_separator)
    body = json.dumps(contact, ensure_ascii=False, separators=(",", ":")).encode()
    if len(body) > MAX_ROW_BYTES:
        return CheckedRow(
            record.row,
            email=email,
            external_id=external_id,
            company_id=company_id,
            tags=tags,
            code="ROW_TOO_LARGE",
            message=f"The contact is {len(body):,} bytes as JSON, over the {MAX_ROW_BYTES:,} a batch can "
            "carry; send fewer or shorter custom attributes.",
        )
    return CheckedRow(
        record.row,
        request.role,
        email,
        external_id,
        company_id,
        tags,
        body=body,
        identities=identities(request),
    )


def identities(request: ContactRequest) -> tuple[str, ...]:
    """What makes two rows the same contact."""
    keys = []
    if request.email is not None:
        keys.append(f"{request.role}\x1femail\x1f{request.email.lower()}")
    if request.external_id is not None:
        keys.append(f"{request.role}\x1fexternal_id\x1f{request.external_id}")
    return tuple(keys)


def duplicate_message(first: int) -> str:
    return f"The same contact as row {first} (same role and email or external_id); row {first} was sent."


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _companies_and_tags(contact: Mapping[str, Any], separator: str) -> tuple[str | None, str | None]:
    """The row's company ids and tag names, each joined with `separator`, as the results file shows them
    (of a row the check refused: those that are text)."""
    companies, tags = contact.get("companies"), contact.get("tags")
    ids = [company.get("company_id") for company in _listed(companies) if isinstance(company, dict)]
    return _joined(ids, separator), _joined(_listed(tags), separator)


def _listed(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _joined(values: list[Any], separator: str) -> str | None:
    return separator.join(value for value in values if isinstance(value, str) and value) or None
