"""The results file: one line per row of the file, in row order, whatever order batches complete in."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from intercom_contacts.importer.chunks import Chunk
from intercom_contacts.importer.ledger import RESULT_COLUMNS, Ledger, Outcome


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "rows.sqlite") as ledger:
        yield ledger


def _none_done_before(row_key: str) -> None:
    """The file read: no earlier run sent any row, so every valid row is numbered to be sent."""


def _results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as results:
        return list(csv.DictReader(results))


def test_rows_are_written_in_row_order_with_what_became_of_each(ledger: Ledger, tmp_path: Path) -> None:
    # Given rows 2 to 6: two chunks of valid rows around a rejected row, sent as batches b1 and b2
    ledger.add_valid(2, "a@example.com", None, b"{}", "k2")
    ledger.add_valid(3, "b@example.com", "u-2", b"{}", "k3")
    ledger.add_rejected(
        4, "bad", None, "VALIDATION_ERROR", "Invalid fields: email is not a valid email address."
    )
    ledger.add_valid(5, "c@example.com", None, b"{}", "k5")
    ledger.add_valid(6, "d@example.com", None, b"{}", "k6")
    ledger.resolve(_none_done_before)
    ledger.sent(Chunk(0, 0, 2), "b1")
    ledger.sent(Chunk(1, 2, 2), "b2")
    # When the second batch completes before the first, and the first only partly
    ledger.record(
        "b2", [Outcome(1, "failed", code="INTERCOM_UNAVAILABLE", message="x"), Outcome(0, "created", "c3")]
    )
    ledger.record("b1", [Outcome(0, "existing", "c1"), Outcome(1, "pending")])
    path = tmp_path / "contacts.csv.results.csv"
    ledger.write_results(path)
    # Then the file has the documented columns and one line per row, in row order
    rows = _results(path)
    assert tuple(rows[0]) == RESULT_COLUMNS
    assert [
        (r["row"], r["email"], r["external_id"], r["status"], r["contact_id"], r["code"], r["batch_id"])
        for r in rows
    ] == [
        ("2", "a@example.com", "", "existing", "c1", "", "b1"),
        ("3", "b@example.com", "u-2", "pending", "", "", "b1"),
        ("4", "bad", "", "rejected", "", "VALIDATION_ERROR", ""),
        ("5", "c@example.com", "", "created", "c3", "", "b2"),
        ("6", "d@example.com", "", "failed", "", "INTERCOM_UNAVAILABLE", "b2"),
    ]
    assert [(r["batch_index"], r["row_key"]) for r in rows if r["row"] == "6"] == [("1", "k6")]


def test_valid_rows_never_sent_are_reported_as_not_sent(ledger: Ledger, tmp_path: Path) -> None:
    ledger.add_valid(2, "a@example.com", None, b"{}", "k2")
    ledger.write_results(tmp_path / "results.csv")
    assert _results(tmp_path / "results.csv")[0]["status"] == "not_sent"


def test_an_outcome_outside_the_batch_changes_no_other_row(ledger: Ledger) -> None:
    # Given two chunks of one row, sent as two batches
    ledger.add_valid(2, "a@example.com", None, b"{}", "k2")
    ledger.add_valid(3, "b@example.com", None, b"{}", "k3")
    ledger.resolve(_none_done_before)
    ledger.sent(Chunk(0, 0, 1), "b1")
    ledger.sent(Chunk(1, 1, 1), "b2")
    # When the first batch's answer names an index it does not have
    ledger.record("b1", [Outcome(1, "created", "c9")])
    # Then the second batch's row is untouched
    assert ledger.statuses() == {("not_sent", None): 2}


def test_the_next_run_reads_what_the_results_say_of_each_rows_content(ledger: Ledger, tmp_path: Path) -> None:
    # Given results with a created row, a pending one and one never sent
    ledger.add_valid(2, "a@example.com", None, b"{}", "k2")
    ledger.add_valid(3, "b@example.com", None, b"{}", "k3")
    ledger.add_valid(4, "c@example.com", None, b"{}", "k4")
    ledger.resolve(_none_done_before)
    ledger.sent(Chunk(0, 0, 2), "b1")
    ledger.record("b1", [Outcome(0, "created", "c1"), Outcome(1, "pending")])
    ledger.write_results(tmp_path / "results.csv")
    # When the next run reads them
    with Ledger(tmp_path / "next.sqlite") as following:
        following.read_earlier_results(tmp_path / "results.csv")
        done, pending, never = following.earlier("k2"), following.earlier("k3"), following.earlier("k4")
    # Then it knows the created row is done, the pending one is followed in its batch, the other is new
    assert done is not None
    assert (done.done, done.contact_id) == (True, "c1")
    assert pending is not None
    assert (pending.followed, pending.batch_id, pending.batch_index) == (True, "b1", 1)
    assert never is None


def test_the_results_replace_an_older_file_only_once_complete(ledger: Ledger, tmp_path: Path) -> None:
    # Given the results of an earlier run
    path = tmp_path / "results.csv"
    path.write_text("old\n")
    ledger.add_rejected(2, None, None, "MALFORMED_ROW", "The row is not valid JSON.")
    # When this run writes its own
    ledger.write_results(path)
    # Then they replace the old ones, and no partial file is left behind
    assert _results(path)[0]["code"] == "MALFORMED_ROW"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "rows.sqlite"]


def test_bodies_come_back_per_chunk_in_order(ledger: Ledger) -> None:
    for row in range(2, 7):
        ledger.add_valid(row, None, f"u{row}", f'{{"n":{row}}}'.encode(), f"k{row}")
    ledger.resolve(_none_done_before)
    assert ledger.chunk_rows(Chunk(1, 2, 2)) == [("k4", b'{"n":4}'), ("k5", b'{"n":5}')]
    assert list(ledger.body_sizes()) == [7] * 5


def test_a_row_the_service_refused_is_not_sent_again_but_one_refused_before_sending_is(
    ledger: Ledger, tmp_path: Path
) -> None:
    # Given results with a row the service refused at intake, and one refused by the check before sending
    ledger.add_valid(2, "a@example.com", None, b"{}", "k2")
    ledger.resolve(_none_done_before)
    ledger.sent(Chunk(0, 0, 1), "b1")
    ledger.record("b1", [Outcome(0, "rejected", code="VALIDATION_ERROR", message="x")])
    ledger.add_rejected(3, "bad", None, "VALIDATION_ERROR", "Invalid fields.")
    ledger.write_results(tmp_path / "results.csv")
    # When the next run reads them
    with Ledger(tmp_path / "next.sqlite") as following:
        following.read_earlier_results(tmp_path / "results.csv")
        refused = following.earlier("k2")
    # Then the row the service refused keeps its outcome instead of being sent again
    assert refused is not None
    assert (refused.kept, refused.status, refused.code) == (True, "rejected", "VALIDATION_ERROR")
