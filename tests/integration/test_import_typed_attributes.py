"""`intercom-contacts import` of a CRM-like CSV whose `custom_attributes.<name>` columns are typed by the
workspace, over real HTTP: the local API gateway in front of the API function and a poller feeding the
queue to the worker (both in this process, against moto), and the Intercom sandbox, whose attributes at
start are typed (seats: integer, paid_subscriber: boolean, contract_signed_at: date, plan: string)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local.intercom_sandbox import IntercomSandbox
from tests.integration.importing import run_import

pytestmark = pytest.mark.usefixtures("quick_retries")

API_KEY = "k"
CRM_EXPORT = (
    "Email,First Name,Last Name,custom_attributes.seats,custom_attributes.paid_subscriber,"
    "custom_attributes.contract_signed_at,custom_attributes.plan\n"
    "ann@example.com,Ann,Lee,12,yes,2025-01-31,pro\n"
    "bo@example.com,Bo,Ray,3,false,2025-02-01T10:00:00+01:00,free\n"
    "cy@example.com,Cy,Ng,,,,\n"
)


def _stored(sandbox: IntercomSandbox) -> dict[str, dict[str, Any]]:
    return {contact["email"]: contact["custom_attributes"] for contact in sandbox.contacts.values()}


def test_a_crm_export_with_typed_attribute_columns_needs_no_option(
    api_url: str, sandbox: IntercomSandbox, tmp_path: Path
) -> None:
    # Given a CRM export whose custom attribute columns the workspace types (integer, boolean, date, string)
    path = tmp_path / "export.csv"
    path.write_text(CRM_EXPORT)
    # When it is imported with no option
    code = run_import(api_url, path)
    # Then every row is created, and Intercom holds each value typed: 12 not "12", dates as Unix seconds
    assert code == 0
    assert _stored(sandbox) == {
        "ann@example.com": {
            "seats": 12,
            "paid_subscriber": True,
            "contract_signed_at": 1738281600,
            "plan": "pro",
        },
        "bo@example.com": {
            "seats": 3,
            "paid_subscriber": False,
            "contract_signed_at": 1738400400,
            "plan": "free",
        },
        "cy@example.com": {},
    }


def test_a_dry_run_checks_the_columns_against_the_workspace_and_sends_nothing(
    api_url: str, sandbox: IntercomSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an export with a wrong integer in one row and a column the workspace lacks
    path = tmp_path / "export.csv"
    path.write_text("Email,custom_attributes.seats,custom_attributes.tier\na@example.com,twelve,gold\n")
    # When it is checked with --dry-run
    code = run_import(api_url, path, "--dry-run")
    # Then the row is rejected naming both columns, the unknown column is reported once, nothing is sent
    out = capsys.readouterr().out
    assert code == 1
    assert "row 2: INVALID_VALUE column custom_attributes.seats: 'twelve' is an integer attribute" in out
    assert "column custom_attributes.tier: is not a custom attribute of the Intercom workspace" in out
    assert "  custom_attributes.tier: NOT IN THE WORKSPACE: its 1 row(s) with a value are rejected" in out
    assert sandbox.requests_to("POST", "/contacts") == []


def test_create_attributes_creates_each_missing_attribute_with_its_columns_type_before_the_contacts(
    api_url: str, sandbox: IntercomSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an export with columns the workspace lacks: dates, whole numbers, yes/no, free text
    path = tmp_path / "export.csv"
    path.write_text(
        "Email,custom_attributes.renewal,custom_attributes.logins,custom_attributes.vip,custom_attributes.note\n"
        "a@example.com,2026-03-01,7,yes,call back\n"
        "b@example.com,2026-04-01T08:00:00Z,,no,42\n"
    )
    # When a dry run with --create-attributes checks it
    assert run_import(api_url, path, "--dry-run", "--create-attributes") == 0
    # Then it says what it would create, and creates nothing
    out = capsys.readouterr().out
    assert "custom_attributes.renewal: not in the workspace; would be created as a date attribute" in out
    assert sandbox.requests_to("POST", "/data_attributes") == []
    # When it is imported with --create-attributes
    assert run_import(api_url, path, "--create-attributes") == 0
    # Then each attribute was created once, with the type of its column, before any contact
    created = sandbox.requests_to("POST", "/data_attributes")
    assert sorted((r.json["name"], r.json["data_type"]) for r in created) == [
        ("logins", "integer"),
        ("note", "string"),
        ("renewal", "date"),
        ("vip", "boolean"),
    ]
    first_contact = next(n for n, r in enumerate(sandbox.requests) if r.path == "/contacts")
    assert max(sandbox.requests.index(r) for r in created) < first_contact
    # And Intercom holds the values typed
    assert _stored(sandbox) == {
        "a@example.com": {"renewal": 1772323200, "logins": 7, "vip": True, "note": "call back"},
        "b@example.com": {"renewal": 1775030400, "vip": False, "note": "42"},
    }


def test_an_attribute_intercom_will_not_create_stops_the_import_before_any_contact(
    api_url: str, sandbox: IntercomSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a column whose name Intercom refuses for an attribute
    path = tmp_path / "export.csv"
    path.write_text("Email,custom_attributes.tier!\na@example.com,gold\n")
    # When it is imported with --create-attributes
    code = run_import(api_url, path, "--create-attributes")
    # Then the import stops as a usage problem with the service's code, saying what to do; nothing is sent
    err = capsys.readouterr().err
    assert code == 2
    assert "ATTRIBUTE_NAME_INVALID: custom_attributes.tier! could not be created as a string attribute" in err
    assert "--map 'custom_attributes.tier!=ignore'" in err
    assert sandbox.requests_to("POST", "/contacts") == []
