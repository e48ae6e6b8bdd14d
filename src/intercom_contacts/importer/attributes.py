"""Custom attribute columns and the workspace's attributes: what a dry run checks, and what
`--create-attributes` creates before the contacts.

The workspace's attributes are read through the service (`GET /contacts/attributes`) once, when a
column first needs them. A dry run checks each value as the service will (logic/custom_attributes.py:
the same conversion), so a row it passes, the service passes. `--create-attributes` reads the file once
more before anything is sent: each attribute column the workspace lacks gets its `--attribute` type, or
the type all its non-empty values fit (integer, then float, boolean, date; else string), and is created
through `POST /contacts/attributes` once the file has been checked. A value's JSON type, which the
service's own `create_attributes=true` goes by, could never make a date attribute from a file's text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from intercom_contacts.importer.source import ATTRIBUTE_PREFIX
from intercom_contacts.intercom.data_attributes import DataAttribute
from intercom_contacts.logic import custom_attributes

INFERRED_ORDER = ("integer", "float", "boolean", "date")  # the first every value fits wins; else string
UNKNOWN = (
    "is not a custom attribute of the Intercom workspace: create it in Intercom, or pass "
    "--create-attributes (its values then type it)"
)

# (attribute name, the type --attribute gives its column or None, the value as the file has it)
AttributeCell = tuple[str, str | None, Any]


class TypeInference:
    """The data type every value of a column fits, learnt value by value (a file is not kept in memory)."""

    def __init__(self) -> None:
        self._candidates = list(INFERRED_ORDER)

    def add(self, value: Any) -> None:
        self._candidates = [data_type for data_type in self._candidates if _fits(data_type, value)]

    @property
    def data_type(self) -> str:
        return self._candidates[0] if self._candidates else "string"


class Workspace:
    """The workspace's custom attributes as one import sees them, and those it is to create."""

    def __init__(self, read: Callable[[], Mapping[str, DataAttribute]], *, create: bool = False) -> None:
        self.create = create  # --create-attributes
        self.planned: dict[str, str] = {}  # attribute -> data type, to create before the contacts
        self._read = read
        self._attributes: Mapping[str, DataAttribute] | None = None
        self._checked: dict[str, DataAttribute | None] = {}  # each column's attribute, as the check found it
        self._unknown_rows: Counter[str] = Counter()

    def attributes(self) -> Mapping[str, DataAttribute]:
        if self._attributes is None:
            self._attributes = self._read()
        return self._attributes

    def plan(self, cells: Iterable[AttributeCell]) -> None:
        """`--create-attributes`: type each attribute the workspace lacks by its `--attribute` type or by
        every non-empty value of its column (one pass over the file's cells)."""
        inferences: dict[str, TypeInference] = {}
        for name, kind, value in cells:
            if name in self.attributes():
                continue
            if kind is not None:
                self.planned[name] = kind
            else:
                inferences.setdefault(name, TypeInference()).add(value)
        self.planned.update((name, inference.data_type) for name, inference in inferences.items())

    def checked(self, name: str, value: Any) -> Any:
        """`value` as the service will convert it for the attribute `name` (one to be created included);
        ValueError saying what the column needs."""
        attribute = self.attributes().get(name)
        if attribute is None and name in self.planned:
            attribute = DataAttribute(name, self.planned[name])
        self._checked.setdefault(name, attribute)
        if attribute is None:
            self._unknown_rows[name] += 1
            raise ValueError(UNKNOWN)
        try:
            if not attribute.api_writable:
                raise custom_attributes.ValueProblem(custom_attributes.NOT_WRITABLE)
            return custom_attributes.convert(attribute, value)
        except custom_attributes.ValueProblem as problem:
            raise ValueError(f"{shown(value)} {problem}") from None

    def report(self) -> list[str]:
        """What the dry run found for each attribute column: its type, or that the workspace lacks it
        (said once here, however many rows it refused), or the type it would be created with."""
        if not self._checked:
            return []
        lines = ["Custom attributes (the workspace's, read through the service):"]
        for name in sorted(self._checked):
            attribute, column = self._checked[name], ATTRIBUTE_PREFIX + name
            if name in self.planned:
                data_type = self.planned[name]
                lines.append(
                    f"  {column}: not in the workspace; would be created as "
                    f"{custom_attributes.article(data_type)} {data_type} attribute (--create-attributes; "
                    "nothing was created)"
                )
            elif attribute is None:
                lines.append(
                    f"  {column}: NOT IN THE WORKSPACE: its {self._unknown_rows[name]:,} row(s) with a value "
                    f"are rejected. Create it in Intercom, pass --create-attributes, or leave the column out "
                    f"with --map '{column}=ignore'."
                )
            elif not attribute.api_writable:
                lines.append(f"  {column}: {custom_attributes.NOT_WRITABLE}")
            else:
                lines.append(f"  {column}: {attribute.data_type}")
        return lines


def _fits(data_type: str, value: Any) -> bool:
    try:
        custom_attributes.convert(DataAttribute("", data_type), value)
    except custom_attributes.ValueProblem:
        return False
    return True


def shown(value: Any) -> str:
    """A value as a message quotes it: short, whatever its length in the file."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:40] + "..." if len(text) > 40 else text)
