"""The conversions the importer reuses: a cell's text to the value Intercom stores for its attribute."""

from __future__ import annotations

from typing import Any

import pytest

from intercom_contacts.intercom.data_attributes import DataAttribute
from intercom_contacts.logic.custom_attributes import ValueProblem, column_types, convert

SIZE = DataAttribute("size", "string", options=("S", "M"))


def test_column_types_name_each_writable_attribute_as_its_column() -> None:
    # Given the workspace's attributes, one of them not writable through the API
    attributes = {
        "seats": DataAttribute("seats", "integer"),
        "renewal": DataAttribute("renewal", "date"),
        "score": DataAttribute("score", "integer", api_writable=False),
    }
    # Then the importer's column types are the writable ones, under their column names
    assert column_types(attributes) == {
        "custom_attributes.seats": "integer",
        "custom_attributes.renewal": "date",
    }


@pytest.mark.parametrize(
    ("data_type", "text", "value"),
    [
        ("integer", "9223372036854775807", 9223372036854775807),
        ("float", "-0.5", -0.5),
        ("boolean", "YES", True),
        ("date", "2025-01-31T09:30:00.9+00:00", 1738315800),
        ("date", "1970-01-01", 0),
        ("string", "12", "12"),
    ],
)
def test_a_cells_unambiguous_text_is_converted(data_type: str, text: str, value: Any) -> None:
    assert convert(DataAttribute("x", data_type), text) == value


@pytest.mark.parametrize(
    ("data_type", "text"),
    [
        ("integer", "9223372036854775808"),
        ("float", "inf"),
        ("boolean", "1"),
        ("date", "9999-12-31T23:59:60Z"),
        ("date", "1969-12-31"),
    ],
)
def test_a_cell_that_does_not_fit_says_what_the_type_needs(data_type: str, text: str) -> None:
    with pytest.raises(ValueProblem, match=f"^is an? {data_type} attribute"):
        convert(DataAttribute("x", data_type), text)


def test_a_list_attribute_takes_only_its_options() -> None:
    assert convert(SIZE, "M") == "M"
    with pytest.raises(ValueProblem, match="S, M"):
        convert(SIZE, "XL")
