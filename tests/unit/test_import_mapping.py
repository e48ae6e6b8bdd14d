"""Columns to contact fields and custom attributes, and values to the types Intercom wants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from intercom_contacts.importer.mapping import (
    CONTACT_FIELDS,
    ColumnMapping,
    Kind,
    RowRejected,
    convert,
    parse_attribute_option,
    parse_map_option,
    read_mapping_file,
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


def test_a_header_column_nothing_maps_is_not_sent_and_named_in_the_mapping() -> None:
    # Given a header with a column no contact field has
    mapping = ColumnMapping()
    columns = ["email", "role", "Company"]
    # When the header is matched
    mapping.use_header(columns)
    # Then the column is not sent, and the mapping says so and how to send it
    assert mapping.not_sent == ["Company"]
    assert mapping.contact({"email": "a@example.com", "role": "lead", "Company": "Acme"}) == {
        "email": "a@example.com",
        "role": "lead",
    }
    lines = mapping.header_lines(columns)
    assert "  Company  -> not sent" in lines
    assert "--map 'Company=FIELD'" in lines[-1]


def test_rows_of_a_header_without_a_role_column_are_users_unless_the_role_option_says() -> None:
    # Given a header with no role column
    columns = ["email", "name"]
    # When it is matched without --role, every row is a user, and the mapping says so
    assumed = ColumnMapping()
    assumed.use_header(columns)
    assert assumed.contact({"email": "a@example.com"})["role"] == "user"
    assert "every row is a user" in assumed.header_lines(columns)[-1]
    # And with --role lead every row is a lead
    leads = ColumnMapping(default_role="lead")
    leads.use_header(columns)
    assert leads.contact({"email": "a@example.com"})["role"] == "lead"


CRM_HEADER = ["First Name", "Last Name", "Email", "Phone Number", "Company", "Plan", "Signup Date"]


def test_a_crm_export_header_is_matched_loosely_and_first_and_last_name_make_the_name() -> None:
    # Given a CRM export's header
    mapping = ColumnMapping()
    # When it is matched and a row becomes a contact
    mapping.use_header(CRM_HEADER)
    row = dict(
        zip(
            CRM_HEADER,
            ["Ann", "Lee", "ann@example.com", "+1 555 0100", "Acme", "pro", "2025-01-31"],
            strict=True,
        )
    )
    # Then email, phone, the date as Unix seconds and the joined name are sent; Company and Plan are not
    assert mapping.contact(row) == {
        "name": "Ann Lee",
        "email": "ann@example.com",
        "phone": "+1 555 0100",
        "signed_up_at": 1738281600,
        "role": "user",
    }
    assert mapping.not_sent == ["Company", "Plan"]
    assert mapping.header_fields(CRM_HEADER) == {
        "First Name": "name",
        "Last Name": "name",
        "Email": "email",
        "Phone Number": "phone",
        "Company": "ignore",
        "Plan": "ignore",
        "Signup Date": "signed_up_at",
    }


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("EMAIL_ADDRESS", "email"),
        ("Mobile", "phone"),
        ("User ID", "external_id"),
        ("External ID", "external_id"),
        ("external-id", "external_id"),
        ("Created At", "signed_up_at"),
        ("Last Seen At", "last_seen_at"),
        ("Full Name", "name"),
    ],
)
def test_headers_match_fields_whatever_their_case_spaces_dashes_or_synonym(header: str, field: str) -> None:
    mapping = ColumnMapping(default_role="lead")
    mapping.use_header([header])
    target = mapping.target(header)
    assert target is not None
    assert (target.name, target.attribute) == (field, False)


def test_a_name_column_wins_over_first_and_last_name_columns() -> None:
    mapping = ColumnMapping()
    mapping.use_header(["Name", "First Name", "email"])
    assert (
        mapping.contact({"Name": "Ann Lee", "First Name": "Ann", "email": "a@example.com"})["name"]
        == "Ann Lee"
    )
    assert mapping.not_sent == ["First Name"]


def test_the_map_option_names_a_columns_field_an_attribute_or_ignore() -> None:
    # Given unusual headers, each named with --map
    mapping = ColumnMapping(
        {"Seats": Kind.INTEGER},
        fields=dict(
            parse_map_option(option)
            for option in ["Courriel=email", "Seats=custom_attributes.seats", "Notes=ignore", "Kind=role"]
        ),
    )
    columns = ["Courriel", "Seats", "Notes", "Kind"]
    # When the header is matched
    mapping.use_header(columns)
    # Then each goes where --map says, typed by --attribute, and nothing is left unmapped
    assert mapping.contact({"Courriel": "a@example.com", "Seats": "3", "Notes": "x", "Kind": "lead"}) == {
        "email": "a@example.com",
        "role": "lead",
        "custom_attributes": {"seats": 3},
    }
    assert mapping.not_sent == []
    assert "  Notes     -> ignored" in mapping.header_lines(columns)


@pytest.mark.parametrize("option", ["Email", "Email=mail", "Plan=custom_attributes.a.b", "X="])
def test_a_map_option_without_a_known_field_is_a_usage_problem(option: str) -> None:
    with pytest.raises(UsageProblem) as problem:
        parse_map_option(option)
    assert problem.value.code == "INVALID_OPTION"
    assert "custom_attributes.NAME" in problem.value.message


def test_two_columns_that_mean_one_field_are_refused_saying_which_to_leave_out() -> None:
    with pytest.raises(UsageProblem) as problem:
        ColumnMapping().use_header(["Email", "E-mail", "role"])
    assert problem.value.code == "AMBIGUOUS_COLUMNS"
    assert "--map 'E-mail=ignore'" in problem.value.message


def test_a_mapping_file_is_read_as_map_options(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text('{"Courriel": "email", "Plan": "custom_attributes.plan", "Notes": "IGNORE"}')
    assert read_mapping_file(path) == {
        "Courriel": "email",
        "Plan": "custom_attributes.plan",
        "Notes": "ignore",
    }


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "MAPPING_NOT_FOUND"),
        ("{not json", "INVALID_MAPPING"),
        ('["email"]', "INVALID_MAPPING"),
        ('{"A": "nope"}', "INVALID_OPTION"),
    ],
)
def test_a_mapping_file_that_cannot_be_used_is_a_usage_problem(
    tmp_path: Path, content: str | None, code: str
) -> None:
    path = tmp_path / "mapping.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageProblem) as problem:
        read_mapping_file(path)
    assert problem.value.code == code
