"""Every row checked with the service's own request model before anything is sent, and duplicates within
the file found."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from intercom_contacts.importer.ledger import Ledger
from intercom_contacts.importer.mapping import ColumnMapping
from intercom_contacts.importer.problems import UsageProblem
from intercom_contacts.importer.progress import ProgressLines
from intercom_contacts.importer.rows import check, identities
from intercom_contacts.importer.run import FileImport, ImportOptions
from intercom_contacts.importer.source import ContactFile, Record
from intercom_contacts.models.contact import ContactRequest


def test_a_valid_row_becomes_the_body_the_service_would_accept() -> None:
    # Given a row of a user with a capitalised role
    record = Record(2, {"role": "User", "email": "a@example.com", "external_id": "u-1", "signed_up_at": "0"})
    # When it is checked
    checked = check(record, ColumnMapping())
    # Then its body is the request model's JSON, compact
    assert checked.code is None
    assert checked.body is not None
    assert json.loads(checked.body) == {
        "role": "user",
        "email": "a@example.com",
        "external_id": "u-1",
        "signed_up_at": 0,
    }
    assert (checked.email, checked.external_id) == ("a@example.com", "u-1")


def test_an_invalid_row_is_rejected_with_the_fields_the_model_refused() -> None:
    # Given a lead without an email and a user with a bad one
    mapping = ColumnMapping()
    lead, user = Record(2, {"role": "lead", "name": "Ann"}), Record(3, {"role": "user", "email": "nope"})
    # When they are checked
    checked_lead, checked_user = check(lead, mapping), check(user, mapping)
    # Then each is a VALIDATION_ERROR, as the service would answer, naming the fields
    assert checked_lead.code == checked_user.code == "VALIDATION_ERROR"
    assert "email is required unless the role is user and external_id is given" in str(checked_lead.message)
    assert str(checked_user.message) == "Invalid fields: email is not a valid email address."
    # And the user's email is still reported, to find the row in the results
    assert checked_user.email == "nope"


def test_a_row_that_is_too_large_for_a_batch_is_rejected() -> None:
    record = Record(
        2,
        {
            "role": "lead",
            "email": "a@example.com",
            **{f"custom_attributes.a{n}": "x" * 255 for n in range(1000)},
        },
    )
    assert check(record, ColumnMapping()).code == "ROW_TOO_LARGE"


def test_a_malformed_record_is_rejected_as_such() -> None:
    checked = check(Record(4, {}, "is not valid JSON"), ColumnMapping())
    assert (checked.code, checked.message) == ("MALFORMED_ROW", "The row is not valid JSON.")


def test_identities_are_the_role_with_the_email_in_any_case_and_the_external_id() -> None:
    first = identities(ContactRequest(role="user", email="Ann@Example.com", external_id="u-1"))
    same_email = identities(ContactRequest(role="user", email="ann@example.com"))
    same_email_as_lead = identities(ContactRequest(role="lead", email="ann@example.com"))
    assert set(first) & set(same_email)
    assert not set(first) & set(same_email_as_lead)


def test_the_ledger_names_the_first_row_with_an_identity(ledger: Ledger) -> None:
    assert ledger.claim(["lead\x1femail\x1fa@example.com"], 2) is None
    assert ledger.claim(["lead\x1femail\x1fb@example.com"], 3) is None
    assert ledger.claim(["lead\x1fexternal_id\x1fx", "lead\x1femail\x1fa@example.com"], 7) == 2


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "rows.sqlite") as ledger:
        yield ledger


def _read(tmp_path: Path, ledger: Ledger, content: str, name: str = "contacts.csv") -> FileImport:
    path = tmp_path / name
    path.write_text(content)
    job = FileImport(
        ContactFile.open(path), ImportOptions(path, ColumnMapping()), ledger, ProgressLines(io.StringIO())
    )
    job.read()
    return job


def test_reading_a_file_keeps_valid_rows_and_marks_later_duplicates_naming_the_first(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given leads where row 4 repeats row 2's email (other case), and an invalid row 3 with the same email
    content = "role,email,name\nlead,a@example.com,Ann\nlead,bad,Ann\nlead,A@EXAMPLE.COM,Ann again\nlead,b@example.com,Bob\n"
    # When the file is read
    job = _read(tmp_path, ledger, content)
    # Then rows 2 and 5 are valid, row 4 a duplicate of row 2, row 3 invalid
    assert (job.tally.read, job.tally.rejected, job.tally.duplicate, ledger.valid) == (4, 1, 1, 2)
    assert [(row, code) for row, code, _ in ledger.rejected()] == [(3, "VALIDATION_ERROR")]
    assert ledger.statuses()[("duplicate", None)] == 1
    ledger.write_results(tmp_path / "results.csv")
    assert "row 2" in (tmp_path / "results.csv").read_text().splitlines()[3]


def test_a_header_without_contacts_is_refused(tmp_path: Path, ledger: Ledger) -> None:
    with pytest.raises(UsageProblem) as problem:
        _read(tmp_path, ledger, "role,email\n")
    assert problem.value.code == "NO_CONTACTS"


def test_json_lines_keys_nothing_maps_are_refused_with_the_first_line(tmp_path: Path, ledger: Ledger) -> None:
    # Given JSON Lines whose second object has a key that is no contact field
    content = '{"role": "lead", "email": "a@example.com"}\n{"role": "lead", "email": "b@example.com", "company": "X"}\n'
    # When the file is read, it is refused naming the key and the line
    with pytest.raises(UsageProblem) as problem:
        _read(tmp_path, ledger, content, name="contacts.jsonl")
    assert problem.value.code == "UNKNOWN_COLUMN"
    assert "'company'" in problem.value.message
    assert "line 2" in problem.value.message
