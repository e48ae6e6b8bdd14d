"""Each record checked as the service will check it, with its own request model, before anything is sent.

Duplicates within the file: a valid row with the same role and email (any case), or the same role and
external_id, as an earlier valid row is the same contact: it is not sent, and the results show it as
`duplicate` with the first row's contact. Intercom does not deduplicate leads, so a repeated lead row
would create a second lead; a repeated user row would race its twin inside one batch, and which one's
fields win would be luck. Its companies and tags are not lost, though: exports list one row per
(contact, company) or (contact, tag), so they are added to the first row's body (`merge`), which
carries them all; its other fields are not sent.
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
from intercom_contacts.models.contact import MAX_COMPANIES, MAX_TAGS, ContactRequest, field_errors


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


def duplicate_message(first: int, *, memberships: bool) -> str:
    """`memberships`: the duplicate has companies or tags, which went into row `first`'s body."""
    same = f"The same contact as row {first} (same role and email or external_id)"
    if memberships:
        return f"{same}: its companies and tags were sent with row {first}; its other fields were not sent."
    return f"{same}; row {first} was sent, and this row's fields were not."


def merge(first: bytes, duplicate: bytes, first_row: int) -> bytes:
    """Row `first_row`'s body with its duplicate's companies and tags after its own: a company by its
    `company_id` (for one the first body has, its fields win), a tag by its name in any case (the first
    spelling wins), each in file order. `first` itself when nothing is new, so a row's key changes only
    when what it sends does. RowRejected (DUPLICATE_OVER_LIMIT) when the first row would go over what one
    contact can carry: the duplicate is then not merged."""
    contact, extra = json.loads(first), json.loads(duplicate)
    companies: list[dict[str, Any]] = contact.get("companies", [])
    tags: list[str] = contact.get("tags", [])
    known_ids = {company["company_id"] for company in companies}
    known_tags = {name.casefold() for name in tags}
    new_companies = [item for item in extra.get("companies", []) if item["company_id"] not in known_ids]
    new_tags = [name for name in extra.get("tags", []) if name.casefold() not in known_tags]
    if not new_companies and not new_tags:
        return first
    over = f"so this row's companies and tags were not added to row {first_row}'s"
    fix = (
        "remove memberships from the file, or, for a user, move this row to a second file and import that "
        "once this one is done (a lead would be created twice)"
    )
    for count, limit, what in (
        (len(companies) + len(new_companies), MAX_COMPANIES, "companies"),
        (len(tags) + len(new_tags), MAX_TAGS, "tags"),
    ):
        if count > limit:
            raise RowRejected(
                "DUPLICATE_OVER_LIMIT",
                f"With this row's, row {first_row}'s contact would have {count} {what}, over the {limit} "
                f"one contact can carry, {over}; {fix}.",
            )
    # companies and tags stay last, in the model's order: the body a single row with them all would send
    merged = {name: value for name, value in contact.items() if name not in ("companies", "tags")}
    if companies or new_companies:
        merged["companies"] = companies + new_companies
    if tags or new_tags:
        merged["tags"] = tags + new_tags
    body = json.dumps(merged, ensure_ascii=False, separators=(",", ":")).encode()
    if len(body) > MAX_ROW_BYTES:
        raise RowRejected(
            "DUPLICATE_OVER_LIMIT",
            f"With this row's, row {first_row}'s contact would be {len(body):,} bytes as JSON, over the "
            f"{MAX_ROW_BYTES:,} a batch can carry, {over}; {fix}.",
        )
    return body


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
