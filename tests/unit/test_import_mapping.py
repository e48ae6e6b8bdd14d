"""Columns to contact fields and custom attributes, and values to the types Intercom wants."""

from __future__ import annotations

from typing import Any

import pytest

from intercom_contacts.importer.mapping import (
    CONTACT_FIELDS,
    ColumnMapping,
    Kind,
    RowRejected,
    convert,
    parse_attribute_option,
)
from intercom_contacts.importer.problems import UsageProblem
from intercom_contacts.models.contact import ContactRequest


def test_every_field_of_the_request_model_but_custom_attributes_is_a_column() -> None:
    assert set(CONTACT_FIELDS) == set(ContactRequest.model_fields) - {"custom_attributes"}


def test_columns_map_by_name_to_fields_and_custom_attributes() -> None:
    # Given a row with contact fields (any case), a custom attribute column, a typed column, an ignored one
    mapping = ColumnMapping({"seats": Kind.INTEGER}, ignored=["notes"])
    values = {
        "Role": "user",
        "email": " a@example.com ",
        "signed_up_at": "2024-05-01",
        "email_verified": "yes",
        "custom_attributes.plan": "pro",
        "seats": "12",
        "notes": "called twice",
    }
    # When it becomes a contact
    contact = mapping.contact(values)
    # Then values are trimmed and typed, attributes nested, the ignored column left out
    assert contact == {
        "role": "user",
        "email": "a@example.com",
        "signed_up_at": 1714521600,
        "email_verified": True,
        "custom_attributes": {"plan": "pro", "seats": 12},
    }


def test_empty_values_are_left_out_not_sent_as_null() -> None:
    contact = ColumnMapping().contact({"role": "lead", "email": "a@example.com", "name": "", "phone": "  "})
    assert contact == {"role": "lead", "email": "a@example.com"}


def test_the_default_role_fills_only_rows_without_one() -> None:
    # Given --role lead
    mapping = ColumnMapping(default_role="lead")
    # Then a row with an empty role gets it, a row with its own role keeps it
    assert mapping.contact({"role": "", "email": "a@example.com"})["role"] == "lead"
    assert mapping.contact({"role": "user", "email": "a@example.com"})["role"] == "user"


def test_a_value_that_does_not_convert_is_rejected_naming_each_column() -> None:
    # Given a row with two values of the wrong type
    mapping = ColumnMapping({"seats": Kind.INTEGER})
    # When it becomes a contact
    with pytest.raises(RowRejected) as rejected:
        mapping.contact({"role": "user", "signed_up_at": "yesterday", "seats": "many"})
    # Then both columns are named, with the value and what to write instead
    assert rejected.value.code == "INVALID_VALUE"
    assert "column signed_up_at: 'yesterday' is not a date (write 2024-05-01" in rejected.value.message
    assert "column seats: 'many' is not a whole number" in rejected.value.message


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("2024-05-01", Kind.DATE, 1714521600),
        ("2024-05-01T09:30:00Z", Kind.DATE, 1714555800),
        ("2024-05-01 11:30:00+02:00", Kind.DATE, 1714555800),
        ("2024-05-01T09:30:00", Kind.DATE, 1714555800),
        ("1714555800", Kind.DATE, 1714555800),
        (1714555800, Kind.DATE, 1714555800),
        ("TRUE", Kind.BOOLEAN, True),
        ("no", Kind.BOOLEAN, False),
        ("0", Kind.BOOLEAN, False),
        (True, Kind.BOOLEAN, True),
        ("-12", Kind.INTEGER, -12),
        (7.0, Kind.INTEGER, 7),
        ("4.5", Kind.FLOAT, 4.5),
        (3, Kind.FLOAT, 3.0),
        ("00123", Kind.STRING, "00123"),
        (42, Kind.STRING, "42"),
        ("", Kind.INTEGER, None),
        (None, Kind.DATE, None),
    ],
)
def test_values_convert_to_intercoms_types(raw: Any, kind: Kind, expected: Any) -> None:
    assert convert(raw, kind) == expected


@pytest.mark.parametrize(
    ("raw", "kind", "says"),
    [
        ("1714555800000", Kind.DATE, "milliseconds"),
        ("05/01/2024", Kind.DATE, "is not a date"),
        ("maybe", Kind.BOOLEAN, "write true or false"),
        ("1,5", Kind.FLOAT, "with a dot"),
        ("nan", Kind.FLOAT, "is not a number"),
        ("1_000", Kind.INTEGER, "is not a whole number"),
        (True, Kind.INTEGER, "is not a whole number"),
        (True, Kind.STRING, "is not text"),
        ({"a": 1}, Kind.STRING, "is not text"),
    ],
)
def test_values_that_do_not_convert_say_what_to_write(raw: Any, kind: Kind, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        convert(raw, kind)


def test_attribute_options_name_a_column_and_a_type() -> None:
    assert parse_attribute_option("seats:integer") == ("seats", Kind.INTEGER)
    assert parse_attribute_option("custom_attributes.renewal:DATE") == (
        "custom_attributes.renewal",
        Kind.DATE,
    )


@pytest.mark.parametrize("option", ["seats", "seats:number", ":string", "a.b:string", "$x:string"])
def test_a_malformed_attribute_option_is_a_usage_problem(option: str) -> None:
    with pytest.raises(UsageProblem) as problem:
        parse_attribute_option(option)
    assert problem.value.code == "INVALID_OPTION"


def test_a_header_column_nothing_maps_is_refused_listing_the_ways_to_map_it() -> None:
    with pytest.raises(UsageProblem) as problem:
        ColumnMapping().check_columns(["email", "role", "Company"])
    assert problem.value.code == "UNKNOWN_COLUMN"
    assert "'Company'" in problem.value.message
    assert "--attribute" in problem.value.message


def test_a_header_without_a_role_column_needs_the_role_option() -> None:
    # Given a header with no role column
    columns = ["email", "name"]
    # Then without --role it is refused, and with it accepted
    with pytest.raises(UsageProblem) as problem:
        ColumnMapping().check_columns(columns)
    assert problem.value.code == "NO_ROLE"
    ColumnMapping(default_role="lead").check_columns(columns)
