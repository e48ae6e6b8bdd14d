"""The results file is opened in spreadsheets: a cell the file's author wrote must never run as a formula."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from intercom_contacts.importer.ledger import Ledger


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://x.example","y")', "@SUM(1+1)", "=cmd|' /C calc'!A0", "+1+1", "-1+1", "\t=1", "\r=1"],
)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(tmp_path: Path, value: str) -> None:
    # Given a rejected row whose email and external_id start like a formula
    with Ledger(tmp_path / "rows.sqlite") as ledger:
        ledger.add_rejected(2, value, value, "VALIDATION_ERROR", "Invalid fields.")
        # When the results are written
        ledger.write_results(tmp_path / "results.csv")
    # Then each such cell is prefixed with a quote, as OWASP advises, and keeps its text after it
    with (tmp_path / "results.csv").open(newline="", encoding="utf-8") as results:
        row = next(csv.DictReader(results))
    assert (row["email"], row["external_id"]) == ("'" + value, "'" + value)


def test_ordinary_cells_are_written_as_they_are(tmp_path: Path) -> None:
    with Ledger(tmp_path / "rows.sqlite") as ledger:
        ledger.add_rejected(2, "a-b@example.com", "u=1", "VALIDATION_ERROR", "Invalid fields.")
        ledger.write_results(tmp_path / "results.csv")
    with (tmp_path / "results.csv").open(newline="", encoding="utf-8") as results:
        row = next(csv.DictReader(results))
    assert (row["email"], row["external_id"], row["row"]) == ("a-b@example.com", "u=1", "2")
