"""The importer's custom attribute columns: the type --create-attributes infers from a column's values,
and the dry run's check against the workspace, reported by row and column."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from intercom_contacts.importer.attributes import TypeInference, Workspace
from intercom_contacts.importer.mapping import ColumnMapping
from intercom_contacts.importer.progress import progress_for
from intercom_contacts.importer.run import ImportOptions, run_import
from intercom_contacts.intercom.data_attributes import DataAttribute

WORKSPACE = {
    "seats": DataAttribute("seats", "integer"),
    "renewal": DataAttribute("renewal", "date"),
    "score": DataAttribute("score", "integer", api_writable=False),
}


def _inferred(values: list[Any]) -> str:
    inference = TypeInference()
    for value in values:
        inference.add(value)
    return inference.data_type


@pytest.mark.parametrize(
    ("values", "data_type"),
    [
        (["12", "-3", "0"], "integer"),
        ([12, 3.0], "integer"),
        (["12", "4.5"], "float"),
        (["1e3", ".5"], "float"),
        (["true", "No", "YES", "false"], "boolean"),
        ([True, False], "boolean"),
        (["2025-01-31", "2025-01-31T09:30:00Z", "2025-02-01T10:00:00+01:00"], "date"),
        (["2025-01-31", "1738281600"], "date"),
        (["2025-01-31T09:30:00"], "string"),  # no time zone: the service would refuse it as a date
        (["1", "yes"], "string"),
        (["12", "twelve"], "string"),
        (["NaN"], "string"),
    ],
)
def test_a_missing_attributes_type_is_the_first_that_every_value_of_its_column_fits(
    values: list[Any], data_type: str
) -> None:
    assert _inferred(values) == data_type


def test_planning_types_only_missing_attributes_by_their_option_or_their_values() -> None:
    # Given a workspace with seats, and cells of seats, an untyped new column and a column typed by --attribute
    workspace = Workspace(lambda: WORKSPACE, create=True)
    cells = [("seats", None, "x"), ("logins", None, "3"), ("logins", None, "4"), ("tier", "string", "7")]
    # When the creations are planned
    workspace.plan(cells)
    # Then only the missing ones are planned: one by its values, one by its --attribute type
    assert workspace.planned == {"logins": "integer", "tier": "string"}


def _dry_run(tmp_path: Path, csv: str, workspace: Workspace) -> tuple[bool, str]:
    """The dry run of a CSV file as `import --dry-run` makes it, the workspace read from `workspace`."""
    path = tmp_path / "contacts.csv"
    path.write_text(csv)
    out = io.StringIO()
    options = ImportOptions(path, ColumnMapping(workspace=workspace), workspace=workspace)
    passed = run_import(options, api=None, progress=progress_for(io.StringIO()), out=out)
    return passed, out.getvalue()


def test_a_dry_run_rejects_each_row_whose_value_does_not_fit_naming_row_column_and_what_it_needs(
    tmp_path: Path,
) -> None:
    # Given a file whose custom attribute columns are typed by the workspace (seats integer, renewal date)
    csv = (
        "email,custom_attributes.seats,custom_attributes.renewal\n"
        "a@example.com,12,2025-01-31\n"
        "b@example.com,many,2025-01-31\n"
        "c@example.com,3,31/01/2025\n"
    )
    # When it is checked with --dry-run
    passed, out = _dry_run(tmp_path, csv, Workspace(lambda: WORKSPACE))
    # Then each refused row names its column, its value and the type the attribute needs
    assert not passed
    assert "row 3: INVALID_VALUE column custom_attributes.seats: 'many' is an integer attribute" in out
    assert "row 4: INVALID_VALUE column custom_attributes.renewal: '31/01/2025' is a date attribute" in out
    assert "row 2:" not in out
    # And the columns are listed with the workspace's types
    assert "  custom_attributes.seats: integer\n" in out
    assert "  custom_attributes.renewal: date\n" in out
    assert "3 rows, 1 valid, 2 rejected (INVALID_VALUE 2)" in out


def test_a_column_the_workspace_lacks_is_reported_once_with_its_rows_and_what_to_do(tmp_path: Path) -> None:
    # Given a file with a column whose attribute the workspace lacks, empty in one row
    csv = "email,custom_attributes.tier\na@example.com,gold\nb@example.com,\nc@example.com,silver\n"
    # When it is checked with --dry-run
    passed, out = _dry_run(tmp_path, csv, Workspace(lambda: WORKSPACE))
    # Then each row with a value is rejected naming the column
    assert not passed
    assert (
        out.count("column custom_attributes.tier: is not a custom attribute of the Intercom workspace") == 2
    )
    # And the column is reported once, with the rows it refused and the ways out
    [line] = [line for line in out.splitlines() if line.startswith("  custom_attributes.tier:")]
    assert "NOT IN THE WORKSPACE: its 2 row(s) with a value are rejected" in line
    assert "--create-attributes" in line
    assert "--map 'custom_attributes.tier=ignore'" in line


def test_an_attribute_the_api_may_not_write_is_reported_by_row_and_column(tmp_path: Path) -> None:
    passed, out = _dry_run(
        tmp_path, "email,custom_attributes.score\na@example.com,3\n", Workspace(lambda: WORKSPACE)
    )
    assert not passed
    assert "row 2: INVALID_VALUE column custom_attributes.score: '3' cannot be written" in out
    assert "  custom_attributes.score: cannot be written through Intercom's API" in out


def test_a_dry_run_with_create_attributes_says_what_would_be_created_and_checks_rows_against_it(
    tmp_path: Path,
) -> None:
    # Given a file with two columns the workspace lacks: one of dates, one of whole numbers
    csv = (
        "email,custom_attributes.signed,custom_attributes.logins\n"
        "a@example.com,2025-01-31,3\n"
        "b@example.com,2025-02-01T10:00:00Z,\n"
    )
    read: list[int] = []
    workspace = Workspace(lambda: read.append(1) or WORKSPACE, create=True)
    # When it is checked with --dry-run --create-attributes
    passed, out = _dry_run(tmp_path, csv, workspace)
    # Then it says which attributes would be created, with which type, and every row passes
    assert passed, out
    assert "  custom_attributes.signed: not in the workspace; would be created as a date attribute" in out
    assert (
        "  custom_attributes.logins: not in the workspace; would be created as a integer attribute" not in out
    )
    assert "custom_attributes.logins: not in the workspace; would be created as an integer attribute" in out
    assert "nothing was created" in out
    # And the workspace was read once
    assert read == [1]


def test_a_file_without_custom_attribute_columns_never_reads_the_workspace(tmp_path: Path) -> None:
    def unreachable() -> dict[str, DataAttribute]:
        raise AssertionError("the workspace was read")

    passed, out = _dry_run(tmp_path, "email,name\na@example.com,Ann\n", Workspace(unreachable, create=True))
    assert passed
    assert "Custom attributes" not in out
