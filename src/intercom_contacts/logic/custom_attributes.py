"""Custom attributes, checked against the workspace before anything is sent, converted to the type
Intercom stores, and created when the caller asks.

Intercom writes only custom attributes that exist in the workspace and are `api_writable`, each with a
value of its type; it stores dates as Unix seconds. Values often arrive as text from an upstream step,
so a text whose meaning is unambiguous is converted ("12" for an integer, "yes" for a boolean,
"2025-01-31" for a date); anything else is refused here, naming `custom_attributes.<name>`, without
spending an Intercom call on the contact.

The workspace's list is read once per container and again, at most every `REFRESH_SECONDS`, when a
request names an attribute the copy does not know: one created in Intercom's UI works without a
restart, and a batch of unknown names costs one read, not one per item.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime
from typing import Any

from intercom_contacts.errors import (
    AttributeLimitReached,
    AttributeNameInvalid,
    AttributeTypeConflict,
    ContactError,
    CustomAttributesRefused,
)
from intercom_contacts.intercom.data_attributes import LIMIT_REACHED, DataAttribute, DataAttributesApi
from intercom_contacts.models.contact import MAX_TIMESTAMP, ContactRequest
from intercom_contacts.models.strict_json import INT64_MAX, INT64_MIN
from intercom_contacts.observability import MetricUnit, logger, metrics

REFRESH_SECONDS = 5.0
MAX_CUSTOM_ATTRIBUTES = 250  # a workspace's limit (Intercom's documentation)
INTEGER_TEXT = re.compile(r"^[+-]?[0-9]+$")
FLOAT_TEXT = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
TRUE_TEXTS, FALSE_TEXTS = frozenset({"true", "yes"}), frozenset({"false", "no"})
UNKNOWN = (
    "is not a custom attribute of the Intercom workspace: create it in Intercom, or send the request "
    "with create_attributes=true (and a value that is not null, whose JSON type becomes its type); one "
    "created moments ago is found when the request is sent again a few seconds later"
)
ARCHIVED = (
    "cannot be created: Intercom already has an attribute of that name, but not among the live ones "
    "(archived?). Unarchive it in Intercom, or use another name."
)
NOT_WRITABLE = "cannot be written through Intercom's API (api_writable is false): set it in Intercom instead"
NEEDS = {
    "string": "is a string attribute: send text (a JSON string)",
    "integer": 'is an integer attribute: send a whole number within 64 bits, or its text such as "12"',
    "float": 'is a float attribute: send a finite number, or its text such as "12.5"',
    "boolean": 'is a boolean attribute: send true or false, or the text "true", "false", "yes" or "no"',
    "date": (
        "is a date attribute: send Unix seconds, or an ISO 8601 date (2025-01-31) or date-time with its "
        "time zone (2025-01-31T09:30:00Z), from 1970 to 9999"
    ),
}

Screen = Callable[[ContactRequest], ContactRequest]


class ValueProblem(ValueError):
    """A value that does not fit its attribute: the sentence says what the attribute needs."""


def column_types(attributes: Mapping[str, DataAttribute]) -> dict[str, str]:
    """For the importer: each writable custom attribute's column (`custom_attributes.<name>`) and its
    data type; convert a cell with `convert(attributes[name], text)`."""
    return {
        f"custom_attributes.{name}": attribute.data_type
        for name, attribute in attributes.items()
        if attribute.api_writable
    }


def convert(attribute: DataAttribute, value: Any) -> Any:
    """`value` as Intercom stores it for `attribute`, or ValueProblem. Null clears an attribute."""
    if value is None:
        return None
    if attribute.options:
        if isinstance(value, str) and value in attribute.options:
            return value
        raise ValueProblem(f"is a list attribute: send one of its options ({', '.join(attribute.options)})")
    converter = CONVERTERS.get(attribute.data_type)
    if converter is None:  # a type this service does not know: Intercom judges the value
        return value
    try:
        return converter(value)
    except ValueError:
        raise ValueProblem(NEEDS[attribute.data_type]) from None


def converted(values: Mapping[str, Any], attributes: Mapping[str, DataAttribute]) -> dict[str, Any]:
    """Every value converted, or CustomAttributesRefused naming each one Intercom would refuse."""
    result: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for name, value in values.items():
        attribute = attributes.get(name)
        try:
            if attribute is None:
                raise ValueProblem(UNKNOWN)
            if not attribute.api_writable:
                raise ValueProblem(NOT_WRITABLE)
            result[name] = convert(attribute, value)
        except ValueProblem as problem:
            problems.append((f"custom_attributes.{name}", str(problem)))
    if problems:
        raise CustomAttributesRefused(problems)
    return result


def json_type(value: Any) -> str:
    """The data type an attribute created for `value` gets: its JSON type (text stays string)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "float" if isinstance(value, float) else "string"


class WorkspaceAttributes:
    """The workspace's custom attributes, as one warm container keeps them (thread-safe: the worker
    handles records on threads)."""

    def __init__(
        self,
        api: DataAttributesApi,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._attributes: dict[str, DataAttribute] | None = None
        self._read_at = -math.inf
        self._invalid_names: dict[str, AttributeNameInvalid] = {}  # Intercom's rules for names do not change

    def checked(self, request: ContactRequest, *, create: bool, deadline: float) -> ContactRequest:
        """The request with its custom attributes converted, after creating the missing ones if asked;
        or CustomAttributesRefused. Reading the list may raise Intercom's transient errors.

        An unknown attribute found without reading the list again (it was read moments ago) may have
        been created since: that refusal is `retryable`, so the worker tries the message later, when
        the list is read again, rather than dead-letter it."""
        values = request.custom_attributes
        if not values:
            return request
        attributes, fresh = self._known(values, deadline=deadline)
        if create:
            for name, value in values.items():
                if name not in attributes and value is not None:
                    attributes, _ = self._create(name, json_type(value), deadline=deadline)
        try:
            return request.model_copy(update={"custom_attributes": converted(values, attributes)})
        except CustomAttributesRefused as refused:
            refused.retryable = not fresh and any(name not in attributes for name in values)
            raise

    def listed(self, *, deadline: float) -> dict[str, DataAttribute]:
        """The workspace's attributes read now (and kept): for a caller that checks values itself."""
        with self._lock:
            return self._read(deadline)

    def ensure(self, name: str, data_type: str, *, deadline: float) -> tuple[DataAttribute, bool]:
        """The attribute `name` of `data_type`, created when the workspace lacks it, and whether this call
        created it; AttributeTypeConflict when it exists with another type."""
        attributes, _ = self._known([name], deadline=deadline)
        created = False
        if name not in attributes:
            attributes, created = self._create(name, data_type, deadline=deadline)
        field = f"custom_attributes.{name}"
        attribute = attributes.get(name)
        if attribute is None:  # Intercom has the name, but not among the live attributes it lists
            raise AttributeNameInvalid([(field, ARCHIVED)])
        if attribute.data_type != data_type:
            kind = attribute.data_type
            problem = (
                f"exists as {article(kind)} {kind} attribute, not {data_type}: "
                f"Intercom never changes an attribute's type. Send its values as {attribute.data_type}, or "
                "create one of another name."
            )
            raise AttributeTypeConflict([(field, problem)])
        return attribute, created

    def screen(self, *, create: bool, deadline: float) -> Screen:
        """The check of a batch's items at intake, which does not depend on Intercom being up: when the
        list cannot be read, the items are queued as they are and the worker checks them before
        sending. Creating attributes does need Intercom: then its error is the batch's answer."""
        unavailable: list[ContactError] = []

        def check(request: ContactRequest) -> ContactRequest:
            if unavailable:
                return request
            try:
                return self.checked(request, create=create, deadline=deadline)
            except CustomAttributesRefused:
                raise
            except ContactError as error:
                if create:
                    raise
                unavailable.append(error)
                metrics.add_metric(name="AttributesUncheckedAtIntake", unit=MetricUnit.Count, value=1)
                logger.warning("custom attributes left for the worker to check", extra={"code": error.code})
                return request

        return check

    def _known(self, names: Collection[str], *, deadline: float) -> tuple[dict[str, DataAttribute], bool]:
        """The attributes, and whether this call read them from Intercom."""
        with self._lock:
            attributes = self._attributes
            unknown = attributes is None or any(name not in attributes for name in names)
            if attributes is None or (unknown and self._clock() - self._read_at >= self._refresh_seconds):
                return self._read(deadline), True
            return attributes, False

    def _read(self, deadline: float) -> dict[str, DataAttribute]:
        self._attributes = self._api.custom_attributes(deadline=deadline)
        self._read_at = self._clock()
        return self._attributes

    def _create(self, name: str, data_type: str, *, deadline: float) -> tuple[dict[str, DataAttribute], bool]:
        """Create `name`, once however many requests ask: under the lock, and a duplicate (another
        container created it) reads the list again for its type. The attributes, and whether this call
        created it."""
        with self._lock:
            attributes = self._attributes or {}
            if name in attributes:
                return attributes, False
            if name in self._invalid_names:
                raise self._invalid_names[name]
            if len(attributes) >= MAX_CUSTOM_ATTRIBUTES:
                raise AttributeLimitReached([(f"custom_attributes.{name}", LIMIT_REACHED)])
            try:
                created = self._api.create(name, data_type, deadline=deadline)
            except AttributeNameInvalid as invalid:  # asked once: a batch's other items get the same answer
                self._invalid_names[name] = invalid
                raise
            if created is None:
                return self._read(deadline), False
            logger.info("custom attribute created", extra={"attribute": name, "data_type": data_type})
            self._attributes = {**attributes, name: created}
            return self._attributes, True


def article(word: str) -> str:
    """'a' or 'an' before a data type's name."""
    return "an" if word[:1] in "aeiou" else "a"


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError


def _to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and INTEGER_TEXT.match(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise ValueError
    return value


def _to_float(value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        return value  # finite and within 64 bits: the request model checked
    if isinstance(value, str) and FLOAT_TEXT.match(value.strip()):
        number = float(value.strip())
        if math.isfinite(number):
            return number
    raise ValueError


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in TRUE_TEXTS or text in FALSE_TEXTS:
        return text in TRUE_TEXTS
    raise ValueError


def _to_date(value: Any) -> int:
    """Unix seconds: given as such (a number or its text), or an ISO 8601 date (midnight UTC) or
    date-time with a time zone (one without is ambiguous)."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        text = value.strip()
        if INTEGER_TEXT.match(text):
            value = int(text)
        elif len(text) <= 10:
            day = date.fromisoformat(text)
            value = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise ValueError
            value = math.floor(moment.timestamp())
    if not isinstance(value, int) or not 0 <= value <= MAX_TIMESTAMP:
        raise ValueError
    return value


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _to_string,
    "integer": _to_integer,
    "float": _to_float,
    "boolean": _to_boolean,
    "date": _to_date,
}
