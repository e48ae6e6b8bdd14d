"""From a record's columns to a contact: which field each column fills, and its value in Intercom's type.

Columns are matched by name: a contact field (`email`, `signed_up_at`, ...; any case), a
`custom_attributes.<name>` column (text unless typed), or a column typed with `--attribute
NAME:TYPE`. Dates become Unix seconds, booleans true/false, integers and floats numbers; an empty
value is left out, never sent as null.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from intercom_contacts.importer.problems import UsageProblem
from intercom_contacts.importer.source import ATTRIBUTE_PREFIX
from intercom_contacts.models.contact import ATTRIBUTE_NAME_PATTERN, ContactRequest

INTEGER = re.compile(r"^[+-]?\d+$")
TRUE = {"true", "t", "yes", "y", "1"}
FALSE = {"false", "f", "no", "n", "0"}
MAX_UNIX_SECONDS = 10**11  # the year 5138: a bigger number is milliseconds, not seconds


class Kind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"


# The request model's fields; only those that are not text need a kind.
CONTACT_FIELDS = tuple(name for name in ContactRequest.model_fields if name != "custom_attributes")
FIELD_KINDS = {
    "signed_up_at": Kind.DATE,
    "last_seen_at": Kind.DATE,
    "unsubscribed_from_emails": Kind.BOOLEAN,
    "email_verified": Kind.BOOLEAN,
}


@dataclass(frozen=True)
class Target:
    """Where a column's value goes: a contact field, or a custom attribute (`attribute=True`)."""

    name: str
    kind: Kind
    attribute: bool = False


class RowRejected(Exception):
    """A record that cannot become a contact; `code` and `message` go to the results file."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_attribute_option(option: str) -> tuple[str, Kind]:
    """`--attribute NAME:TYPE`: the column NAME (with or without `custom_attributes.`) and its type."""
    column, _, kind = option.rpartition(":")
    attribute = column.strip().removeprefix(ATTRIBUTE_PREFIX)
    if not column.strip() or kind.strip().lower() not in set(Kind):
        raise UsageProblem(
            "INVALID_OPTION",
            f"--attribute {option!r}: write NAME:TYPE, where TYPE is one of {', '.join(Kind)}, "
            "e.g. --attribute plan:string --attribute seats:integer",
        )
    if not ATTRIBUTE_NAME_PATTERN.match(attribute):
        raise UsageProblem(
            "INVALID_OPTION",
            f"--attribute {option!r}: Intercom attribute names have 1-190 characters without '.' or '$'.",
        )
    return column.strip(), Kind(kind.strip().lower())


class ColumnMapping:
    """The options that decide what a record becomes: typed attributes, ignored columns, a default role."""

    def __init__(
        self,
        attributes: Mapping[str, Kind] | None = None,
        ignored: Collection[str] = (),
        default_role: str | None = None,
    ) -> None:
        self.attributes = dict(attributes or {})
        self.ignored = frozenset(name.strip() for name in ignored)
        self.default_role = default_role
        self._targets: dict[str, Target | None] = {}

    def describe(self) -> dict[str, Any]:
        """Everything here that changes what is sent, for the import's idempotency keys."""
        return {
            "attributes": sorted((name, kind.value) for name, kind in self.attributes.items()),
            "ignored": sorted(self.ignored),
            "default_role": self.default_role,
        }

    def target(self, column: str) -> Target | None:
        """Where `column` goes; None when it is ignored. Raises KeyError for a column nothing maps."""
        if column not in self._targets:
            self._targets[column] = self._resolve(column)
        return self._targets[column]

    def check_columns(self, columns: Iterable[str]) -> None:
        """A CSV header: every column must map somewhere, and a role must come from somewhere."""
        named = [column for column in columns if column]
        unknown = [column for column in named if not self.maps(column)]
        if unknown:
            raise unknown_columns(unknown)
        if self.default_role is None and not any(self._is_role(column) for column in named):
            raise UsageProblem(
                "NO_ROLE",
                "The file has no role column: pass --role user or --role lead "
                "(or add a role column, one value per row).",
            )

    def contact(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The body of `POST /contacts` for one record, before validation; raises RowRejected."""
        body: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        problems = []
        for column, raw in values.items():
            target = self.target(column)
            if target is None:
                continue
            try:
                value = convert(raw, target.kind)
            except ValueError as error:
                problems.append(f"column {column}: {error}")
                continue
            if value is not None:
                (attributes if target.attribute else body)[target.name] = value
        if problems:
            raise RowRejected("INVALID_VALUE", "; ".join(problems))
        if "role" not in body and self.default_role is not None:
            body["role"] = self.default_role
        if attributes:
            body["custom_attributes"] = attributes
        return body

    def maps(self, column: str) -> bool:
        try:
            self.target(column)
        except KeyError:
            return False
        return True

    def _is_role(self, column: str) -> bool:
        target = self.target(column)
        return target is not None and not target.attribute and target.name == "role"

    def _resolve(self, column: str) -> Target | None:
        if column in self.ignored:
            return None
        if column in self.attributes:
            return Target(column.removeprefix(ATTRIBUTE_PREFIX), self.attributes[column], attribute=True)
        if (field := column.strip().lower()) in CONTACT_FIELDS:
            return Target(field, FIELD_KINDS.get(field, Kind.STRING))
        if column.lower().startswith(ATTRIBUTE_PREFIX) and len(column) > len(ATTRIBUTE_PREFIX):
            return Target(column[len(ATTRIBUTE_PREFIX) :], Kind.STRING, attribute=True)
        raise KeyError(column)


def unknown_columns(columns: Iterable[str], where: str = "") -> UsageProblem:
    names = ", ".join(repr(column) for column in columns)
    return UsageProblem(
        "UNKNOWN_COLUMN",
        f"Nothing maps these columns{where}: {names}. Name them after a contact field "
        f"({', '.join(CONTACT_FIELDS)}) or custom_attributes.NAME, type one as a custom attribute "
        "with --attribute NAME:TYPE, or leave it out with --ignore NAME.",
    )


def convert(raw: Any, kind: Kind) -> Any:
    """One value as Intercom wants it; None when empty. Raises ValueError with what to write instead."""
    value = raw.strip() if isinstance(raw, str) else raw
    if value is None or value == "":
        return None
    converter = {
        Kind.STRING: _string,
        Kind.INTEGER: _integer,
        Kind.FLOAT: _float,
        Kind.BOOLEAN: _boolean,
        Kind.DATE: _unix_seconds,
    }[kind]
    return converter(value)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:40] + "..." if len(text) > 40 else text)


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{_shown(value)} is not text")


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and INTEGER.match(value):
        return int(value)
    raise ValueError(f"{_shown(value)} is not a whole number (write e.g. 42)")


def _float(value: Any) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ValueError(f"{_shown(value)} is not a number (write e.g. 4.5, with a dot)")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower() if isinstance(value, (str, int)) else None
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"{_shown(value)} is not a boolean (write true or false)")


def _unix_seconds(value: Any) -> int:
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and INTEGER.match(value):
        seconds = int(value)
    elif isinstance(value, str):
        seconds = _iso_seconds(value)
    if seconds is None:
        raise ValueError(
            f"{_shown(value)} is not a date (write 2024-05-01, 2024-05-01T09:30:00Z or Unix seconds)"
        )
    if seconds >= MAX_UNIX_SECONDS:
        raise ValueError(f"{_shown(value)} is too large for Unix seconds (milliseconds? divide by 1000)")
    return seconds


def _iso_seconds(text: str) -> int | None:
    """An ISO 8601 date (midnight UTC) or date-time (UTC unless it gives an offset)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
