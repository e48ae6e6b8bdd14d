"""From a record's columns to a contact: which field each column fills, and its value in Intercom's type.

A CSV header is matched loosely, as CRM exports name their columns: case, spaces, `-` and `_` do not
matter ("E-mail", "Signup Date") and common synonyms are known ("Email Address", "Phone Number",
"User ID", "Created At"); "First Name" and "Last Name" make `name` when no column is the name. A
column nothing matches is not sent, and said so in the mapping printed before anything is sent.
`--map COLUMN=FIELD` (or a `--mapping FILE` of them) names a column's field outright. A file without
a role column gives every row the role `user` (or `--role`). JSON Lines objects are `POST /contacts`
bodies: their keys are matched exactly, and a key nothing maps stops the import.

`company_id`, `company_name` and `company.<field>` columns (`company.custom_attributes.<name>` for
the company's own attributes) fill one company for the row, which needs its `company_id`; a `tags`
column holds names separated by `;` (or `--tag-separator`), and `--tag` names add to every row's.

Dates become Unix seconds, booleans true/false, integers and floats numbers; an empty value is left
out, never sent as null. A custom attribute column without `--attribute NAME:TYPE` is sent as the file
has it (text, in a CSV): the service converts it to the workspace's type for the attribute. A dry run
checks every custom attribute value against the workspace's attributes (attributes.py).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from intercom_contacts.importer.attributes import AttributeCell, Workspace, shown
from intercom_contacts.importer.problems import UsageProblem
from intercom_contacts.importer.source import ATTRIBUTE_PREFIX
from intercom_contacts.models.contact import (
    ATTRIBUTE_NAME_PATTERN,
    MAX_TAGS,
    CompanyRequest,
    ContactRequest,
    TagName,
)

INTEGER = re.compile(r"^[+-]?\d+$")
TRUE = {"true", "t", "yes", "y", "1"}
FALSE = {"false", "f", "no", "n", "0"}
MAX_UNIX_SECONDS = 10**11  # the year 5138: a bigger number is milliseconds, not seconds
IGNORE = "ignore"
DEFAULT_ROLE = "user"  # Intercom deduplicates users by email and external_id, never leads
COMPANIES, TAGS = "companies", "tags"
DEFAULT_TAG_SEPARATOR = ";"
COMPANY_PREFIX = "company."
COMPANY_ATTRIBUTE_PREFIX = COMPANY_PREFIX + ATTRIBUTE_PREFIX


class Kind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"


# The request model's fields; only those that are not text need a kind. Companies and tags have none:
# a JSON Lines object gives them as the API takes them, a CSV's tags are split (`tag_names`).
CONTACT_FIELDS = tuple(name for name in ContactRequest.model_fields if name != "custom_attributes")
FIELD_KINDS: dict[str, Kind | None] = {
    "signed_up_at": Kind.DATE,
    "last_seen_at": Kind.DATE,
    "unsubscribed_from_emails": Kind.BOOLEAN,
    "email_verified": Kind.BOOLEAN,
    COMPANIES: None,
    TAGS: None,
}
# The company's fields, each named `company.<field>`; its id and name also as Intercom's CSV import
# names them.
COMPANY_FIELDS = tuple(name for name in CompanyRequest.model_fields if name != "custom_attributes")
COMPANY_KINDS = {"size": Kind.INTEGER, "monthly_spend": Kind.INTEGER, "remote_created_at": Kind.DATE}
SHORT_COMPANY_FIELDS = {"company_id": "company_id", "name": "company_name"}
COMPANY_COLUMNS = {
    **{COMPANY_PREFIX + name: name for name in COMPANY_FIELDS},
    **{short: name for name, short in SHORT_COMPANY_FIELDS.items()},
}
COMPANY_HINT = (
    f"company_id, company_name, company.FIELD "
    f"({', '.join(name for name in COMPANY_FIELDS if name not in SHORT_COMPANY_FIELDS)}), "
    "company.custom_attributes.NAME, tags"
)
TAG_NAME: TypeAdapter[str] = TypeAdapter(TagName)
# Headers of CRM exports, as `_loose` writes them, and the field each means.
SYNONYMS = {
    "emailaddress": "email",
    "mail": "email",
    "phonenumber": "phone",
    "mobile": "phone",
    "mobilephone": "phone",
    "mobilenumber": "phone",
    "telephone": "phone",
    "userid": "external_id",
    "customerid": "external_id",
    "fullname": "name",
    "signupdate": "signed_up_at",
    "signedup": "signed_up_at",
    "createdat": "signed_up_at",
    "createddate": "signed_up_at",
    "lastseen": "last_seen_at",
    "unsubscribed": "unsubscribed_from_emails",
    "tag": TAGS,
}
# "Company ID", "Company Name", "Company Size", ...: a company's field (a lone "Company" is not matched:
# without an id it could not be sent, and would refuse every row of a CRM export)
COMPANY_HEADERS = {re.sub(r"[\s_.-]+", "", column): name for column, name in COMPANY_COLUMNS.items()}
NAME_PARTS = {"firstname": 0, "givenname": 0, "lastname": 1, "surname": 1, "familyname": 1}


@dataclass(frozen=True)
class Target:
    """Where a column's value goes: a contact field, or a custom attribute (`attribute=True`), of the
    contact or of the row's company (`company=True`).

    `part` is set for a first (0) or last (1) name column: the parts are joined into `name`. An
    attribute without a `kind` is typed by the workspace: sent as given, converted by the service."""

    name: str
    kind: Kind | None
    attribute: bool = False
    part: int | None = None
    company: bool = False

    @property
    def field(self) -> str:
        """The target as `--map` names it."""
        if self.company and self.attribute:
            return COMPANY_ATTRIBUTE_PREFIX + self.name
        if self.company:
            return SHORT_COMPANY_FIELDS.get(self.name, COMPANY_PREFIX + self.name)
        return ATTRIBUTE_PREFIX + self.name if self.attribute else self.name

    def is_contact_field(self, name: str) -> bool:
        return self.name == name and not self.attribute and not self.company


class RowRejected(Exception):
    """A record that cannot become a contact; `code` and `message` go to the results file."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_attribute_option(option: str) -> tuple[str, Kind]:
    """`--attribute NAME:TYPE`: the column NAME (with or without `custom_attributes.`, or a
    `company.custom_attributes.NAME` column) and its type."""
    column, _, kind = option.rpartition(":")
    attribute = _attribute_name(column.strip())
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


def _attribute_name(column: str) -> str:
    for prefix in (COMPANY_ATTRIBUTE_PREFIX, ATTRIBUTE_PREFIX):
        if column.startswith(prefix):
            return column.removeprefix(prefix)
    return column


def parse_tag_options(options: Sequence[str]) -> tuple[str, ...]:
    """`--tag NAME` (repeatable): names as the request model takes them (trimmed, 1-100 characters), at
    most as many as a contact may have, since every row gets them all."""
    names = []
    for option in options:
        try:
            names.append(TAG_NAME.validate_python(option))
        except ValidationError:
            raise UsageProblem(
                "INVALID_OPTION",
                f"--tag {shown(option)}: a tag name has 1-100 characters besides spaces around it, "
                "e.g. --tag 'Imported 2025'.",
            ) from None
    if len({name.casefold() for name in names}) > MAX_TAGS:
        raise UsageProblem(
            "INVALID_OPTION",
            f"{len(names)} --tag options: a contact has at most {MAX_TAGS} tags; give fewer.",
        )
    return tuple(names)


def parse_map_option(option: str) -> tuple[str, str]:
    """`--map COLUMN=FIELD`: FIELD is a contact field, `custom_attributes.NAME`, a company's field,
    `tags` or `ignore`."""
    column, _, field = option.rpartition("=")
    return column.strip(), checked_field(field if column.strip() else "", f"--map {option!r}")


def read_mapping_file(path: Path) -> dict[str, str]:
    """`--mapping FILE`: a JSON object of column -> field, as `--map` takes them."""
    try:
        columns = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem("MAPPING_NOT_FOUND", f"{path} does not exist; check the --mapping path.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageProblem(
            "INVALID_MAPPING",
            f"{path} is not a JSON object of column -> field ({error}); "
            'write e.g. {"E-mail": "email", "Plan": "custom_attributes.plan", "Notes": "ignore"}.',
        ) from None
    if not isinstance(columns, dict) or not all(isinstance(field, str) for field in columns.values()):
        raise UsageProblem(
            "INVALID_MAPPING",
            f"{path} must be one JSON object of column -> field, each field a string; "
            'e.g. {"E-mail": "email", "Plan": "custom_attributes.plan", "Notes": "ignore"}.',
        )
    return {
        column.strip(): checked_field(field, f"{path}, column {column!r}")
        for column, field in columns.items()
    }


def checked_field(field: str, where: str) -> str:
    name = field.strip()
    if name.lower() in {*CONTACT_FIELDS, *COMPANY_COLUMNS, IGNORE}:
        return name.lower()
    if name.startswith((ATTRIBUTE_PREFIX, COMPANY_ATTRIBUTE_PREFIX)) and ATTRIBUTE_NAME_PATTERN.match(
        _attribute_name(name)
    ):
        return name
    raise UsageProblem(
        "INVALID_OPTION",
        f"{where}: write COLUMN=FIELD, where FIELD is a contact field ({', '.join(CONTACT_FIELDS)}), "
        f"custom_attributes.NAME, {COMPANY_HINT} or {IGNORE}.",
    )


@dataclass
class _Gathered:
    """One record's values, converted, by where they go; `body()` makes the contact of them."""

    fields: dict[str, Any] = dataclass_field(default_factory=dict)
    attributes: dict[str, Any] = dataclass_field(default_factory=dict)
    name_parts: dict[int, str] = dataclass_field(default_factory=dict)
    company: dict[str, Any] = dataclass_field(default_factory=dict)
    company_attributes: dict[str, Any] = dataclass_field(default_factory=dict)
    company_columns: list[str] = dataclass_field(default_factory=list)
    tags: list[Any] = dataclass_field(default_factory=list)

    def place(self, column: str, target: Target, value: Any) -> None:
        if target.part is not None:
            self.name_parts[target.part] = value
        elif target.company:
            self.company_columns.append(column)
            (self.company_attributes if target.attribute else self.company)[target.name] = value
        elif target.is_contact_field(TAGS):
            self.tags.extend(value)
        else:
            (self.attributes if target.attribute else self.fields)[target.name] = value

    def body(self, default_role: str | None, every_rows_tags: Sequence[str]) -> dict[str, Any]:
        body = dict(self.fields)
        if self.name_parts:
            body["name"] = " ".join(self.name_parts[part] for part in sorted(self.name_parts))
        if "role" not in body and default_role is not None:
            body["role"] = default_role
        if self.attributes:
            body["custom_attributes"] = self.attributes
        if (company := self._company()) is not None:
            # a JSON Lines object's own companies come first (ones not in a list are refused by the check)
            given = body.get(COMPANIES, [])
            body[COMPANIES] = [*given, company] if isinstance(given, list) else given
        if self.tags or every_rows_tags:
            body[TAGS] = [*self.tags, *every_rows_tags]
        return body

    def _company(self) -> dict[str, Any] | None:
        """The company the row's company columns fill; None when all are empty. RowRejected without its id."""
        if not self.company_columns:
            return None
        if "company_id" not in self.company:
            raise RowRejected(
                "COMPANY_ID_MISSING",
                f"The row gives its company's {', '.join(self.company_columns)} but no company_id, which "
                "Intercom knows the company by; fill in the company_id column, or leave the row's company "
                "columns empty",
            )
        if self.company_attributes:
            return {**self.company, "custom_attributes": self.company_attributes}
        return self.company


class ColumnMapping:
    """The options that decide what a record becomes: fields named for columns, typed attributes,
    ignored columns, a default role."""

    def __init__(
        self,
        attributes: Mapping[str, Kind] | None = None,
        ignored: Collection[str] = (),
        default_role: str | None = None,
        fields: Mapping[str, str] | None = None,
        *,
        workspace: Workspace | None = None,
        tags: Sequence[str] = (),
        tag_separator: str = DEFAULT_TAG_SEPARATOR,
    ) -> None:
        self.attributes = dict(attributes or {})
        self.ignored = frozenset(name.strip() for name in ignored)
        self.default_role = default_role
        self.fields = dict(fields or {})  # column -> field, from --mapping and --map
        self.not_sent: list[str] = []  # header columns nothing matched
        self.assumed_role = False  # the header has no role column and --role was not given
        self._targets: dict[str, Target | None] = {}
        self.workspace = workspace  # a dry run's: each custom attribute value is checked against it
        self.tags = tuple(tags)  # --tag: added to every row's
        self.tag_separator = tag_separator

    def target(self, column: str) -> Target | None:
        """Where `column` goes; None when it is ignored. Raises KeyError for a column nothing maps."""
        if column not in self._targets:
            self._targets[column] = self._resolve(column)
        return self._targets[column]

    def use_header(self, columns: Sequence[str]) -> None:
        """A CSV header: each column matched loosely once; two columns for one field are refused."""
        named = [column for column in columns if column]
        targets = {column: self._header_target(column) for column in named}
        if not any(target and target.is_contact_field("name") for target in targets.values()):
            for column in named:
                if targets[column] is None and not self._left_out(column):
                    part = NAME_PARTS.get(_loose(column))
                    targets[column] = None if part is None else Target("name", Kind.STRING, part=part)
        _refuse_shared_targets(targets)
        self._targets.update(targets)
        self.not_sent = [column for column in named if targets[column] is None and not self._left_out(column)]
        if self.default_role is None and not any(self._is_role(column) for column in named):
            self.default_role, self.assumed_role = DEFAULT_ROLE, True

    def header_lines(self, columns: Sequence[str]) -> list[str]:
        """What each column of the header becomes, for the user to see before anything is sent."""
        width = max((len(column) for column in columns), default=0)
        lines = ["Columns:"]
        for column in (column for column in columns if column):
            lines.append(f"  {column:<{width}}  -> {self._shown_target(column)}")
        if self.assumed_role:
            lines.append(f"  (no role column: every row is a {DEFAULT_ROLE}; pass --role lead for leads)")
        if self.tags:
            lines.append(f"  (every row is also tagged {self.tag_separator.join(self.tags)}: --tag)")
        if self.not_sent:
            example = self.not_sent[0]
            lines.append(
                f"Not sent: {', '.join(self.not_sent)} (no contact field has the name). To send one, "
                f"name its field: --map '{example}=FIELD' (e.g. custom_attributes.NAME, an attribute the "
                f"workspace has), or --map '{example}=ignore' to leave it out on purpose."
            )
        return lines

    def header_fields(self, columns: Sequence[str]) -> dict[str, str]:
        """The mapping in use as `--mapping FILE` takes it, to save and reuse."""
        return {column: self._field_of(column) for column in columns if column}

    def contact(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The body of `POST /contacts` for one record, before validation; raises RowRejected."""
        gathered = _Gathered()
        problems = []
        for column, raw in values.items():
            target = self.target(column)
            if target is None:
                continue
            try:
                value = self._value(target, raw)
            except ValueError as error:
                problems.append(f"column {column}: {error}")
                continue
            if value is not None:
                gathered.place(column, target, value)
        if problems:
            raise RowRejected("INVALID_VALUE", "; ".join(problems))
        return gathered.body(self.default_role, self.tags)

    def _value(self, target: Target, raw: Any) -> Any:
        """A cell's value for its target; None when empty. Raises ValueError with what to write."""
        if target.is_contact_field(TAGS):
            return tag_names(raw, self.tag_separator)
        value = convert(raw, target.kind)
        if target.is_contact_field(COMPANIES) and isinstance(value, str):
            raise ValueError(
                f"{shown(value)} is text; a CSV gives a row's company in the columns company_id, "
                "company_name and company.FIELD"
            )
        if target.attribute and not target.company and value is not None and self.workspace is not None:
            value = self.workspace.checked(target.name, value)
        return value

    def attribute_cells(self, values: Mapping[str, Any]) -> Iterator[AttributeCell]:
        """A record's non-empty custom attribute values, each with the type `--attribute` gives its
        column (None: the workspace's); keys nothing maps are left to the record's check."""
        for column, raw in values.items():
            try:
                target = self.target(column)
            except KeyError:
                continue
            value = raw.strip() if isinstance(raw, str) else raw
            if target is not None and target.attribute and not target.company and value not in (None, ""):
                yield target.name, None if target.kind is None else target.kind.value, value

    def maps(self, column: str) -> bool:
        try:
            self.target(column)
        except KeyError:
            return False
        return True

    def _is_role(self, column: str) -> bool:
        target = self.target(column)
        return target is not None and target.is_contact_field("role")

    def _left_out(self, column: str) -> bool:
        return column in self.ignored or self.fields.get(column) == IGNORE

    def _field_of(self, column: str) -> str:
        target = self._targets.get(column)
        return IGNORE if target is None else target.field

    def _shown_target(self, column: str) -> str:
        target = self._targets.get(column)
        if target is None:
            return "ignored" if self._left_out(column) else "not sent"
        if target.part is not None:
            return f"name ({'first' if target.part == 0 else 'last'} part)"
        if target.is_contact_field(TAGS):
            return f"tags (names separated by {self.tag_separator!r})"
        if target.kind is None and target.attribute and not target.company:
            return f"{target.field} (the workspace's type, converted by the service)"
        return f"{target.field} (date, sent as Unix seconds)" if target.kind is Kind.DATE else target.field

    def _header_target(self, column: str) -> Target | None:
        """A header column's target, matched loosely; None when it is left out or nothing matches."""
        try:
            return self._resolve(column)
        except KeyError:
            if (company_field := COMPANY_HEADERS.get(_loose(column).replace(".", ""))) is not None:
                return _company_target(company_field)
            field = SYNONYMS.get(_loose(column)) or next(
                (name for name in CONTACT_FIELDS if _loose(name) == _loose(column)), None
            )
            return None if field is None else Target(field, FIELD_KINDS.get(field, Kind.STRING))

    def _resolve(self, column: str) -> Target | None:
        if column in self.ignored:
            return None
        field = self.fields.get(column)
        if field is None and column in self.attributes and not _is_company_attribute(column):
            field = ATTRIBUTE_PREFIX + column.removeprefix(ATTRIBUTE_PREFIX)
        field = field or _field_named_by(column)
        if field is None:
            raise KeyError(column)
        return self._named(column, field)

    def _named(self, column: str, field: str) -> Target | None:
        """The target `--map COLUMN=FIELD` gives; an attribute has the workspace's type (the company's: as
        given) unless --attribute types the column."""
        if field == IGNORE:
            return None
        if field.startswith(COMPANY_ATTRIBUTE_PREFIX):
            kind = self.attributes.get(column)
            return Target(field.removeprefix(COMPANY_ATTRIBUTE_PREFIX), kind, attribute=True, company=True)
        if field.startswith(ATTRIBUTE_PREFIX):
            kind = self.attributes.get(column)
            return Target(field.removeprefix(ATTRIBUTE_PREFIX), kind, attribute=True)
        if field in COMPANY_COLUMNS:
            return _company_target(COMPANY_COLUMNS[field])
        return Target(field, FIELD_KINDS.get(field, Kind.STRING))


def _field_named_by(column: str) -> str | None:
    """The field a column is named for: a contact or company field in any case, or an attribute by its
    prefix (in any case); None when the name is none of these."""
    if (field := column.strip().lower()) in {*CONTACT_FIELDS, *COMPANY_COLUMNS}:
        return field
    for prefix in (COMPANY_ATTRIBUTE_PREFIX, ATTRIBUTE_PREFIX):
        if column.lower().startswith(prefix) and len(column) > len(prefix):
            return prefix + column[len(prefix) :]
    return None


def _is_company_attribute(column: str) -> bool:
    return column.lower().startswith(COMPANY_ATTRIBUTE_PREFIX)


def _company_target(name: str) -> Target:
    return Target(name, COMPANY_KINDS.get(name, Kind.STRING), company=True)


def _loose(header: str) -> str:
    """A header as loose matching compares it: lower case, without spaces, '-' and '_'."""
    return re.sub(r"[\s_-]+", "", header.lower())


def _refuse_shared_targets(targets: Mapping[str, Target | None]) -> None:
    by_target: dict[tuple[str, int | None], list[str]] = {}
    for column, target in targets.items():
        if target is not None:
            by_target.setdefault((target.field, target.part), []).append(column)
    for (field, _), columns in by_target.items():
        if len(columns) > 1:
            raise UsageProblem(
                "AMBIGUOUS_COLUMNS",
                f"The columns {', '.join(repr(column) for column in columns)} all mean {field}; keep one "
                f"and leave the others out, e.g. --map '{columns[-1]}=ignore'.",
            )


def unknown_columns(columns: Iterable[str], where: str = "") -> UsageProblem:
    names = ", ".join(repr(column) for column in columns)
    return UsageProblem(
        "UNKNOWN_COLUMN",
        f"Nothing maps these keys{where}: {names}. Name its field with --map KEY=FIELD (a contact field: "
        f"{', '.join(CONTACT_FIELDS)}; custom_attributes.NAME; or {COMPANY_HINT}), type it as a custom "
        "attribute with --attribute NAME:TYPE, or leave it out with --map KEY=ignore.",
    )


def tag_names(raw: Any, separator: str) -> list[Any] | None:
    """A `tags` value: text split at `separator` (empty names dropped), a JSON list as given; None when
    there is none."""
    value = convert(raw, None)
    if isinstance(value, str):
        return [name.strip() for name in value.split(separator) if name.strip()] or None
    if value is None or isinstance(value, list):
        return value
    raise ValueError(f"{shown(value)} is not tag names (write them separated by {separator!r})")


def convert(raw: Any, kind: Kind | None) -> Any:
    """One value as Intercom wants it (as given without a kind); None when empty. Raises ValueError with
    what to write instead."""
    value = raw.strip() if isinstance(raw, str) else raw
    if value is None or value == "":
        return None
    if kind is None:
        return value
    converter = {
        Kind.STRING: _string,
        Kind.INTEGER: _integer,
        Kind.FLOAT: _float,
        Kind.BOOLEAN: _boolean,
        Kind.DATE: _unix_seconds,
    }[kind]
    return converter(value)


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{shown(value)} is not text")


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and INTEGER.match(value):
        return int(value)
    raise ValueError(f"{shown(value)} is not a whole number (write e.g. 42)")


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
        raise ValueError(f"{shown(value)} is not a number (write e.g. 4.5, with a dot)")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower() if isinstance(value, (str, int)) else None
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"{shown(value)} is not a boolean (write true or false)")


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
            f"{shown(value)} is not a date (write 2024-05-01, 2024-05-01T09:30:00Z or Unix seconds)"
        )
    if seconds >= MAX_UNIX_SECONDS:
        raise ValueError(f"{shown(value)} is too large for Unix seconds (milliseconds? divide by 1000)")
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
