"""A row that repeats an earlier row's contact (issue 20): its companies and tags go into the first row's
body, in file order and each once; over a contact's limits it is rejected instead; the row keys the
next run matches by are those of the bodies as merged."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from intercom_contacts.importer.chunks import MAX_ROW_BYTES, Chunk, row_key
from intercom_contacts.importer.ledger import Ledger, Outcome
from intercom_contacts.importer.mapping import ColumnMapping
from intercom_contacts.importer.progress import ProgressLines
from intercom_contacts.importer.rows import check
from intercom_contacts.importer.run import FileImport, ImportOptions, run_import
from intercom_contacts.importer.source import ContactFile, Record
from intercom_contacts.models.contact import OnConflict


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "rows.sqlite") as ledger:
        yield ledger


def _read(
    tmp_path: Path, ledger: Ledger, content: str, mapping: ColumnMapping | None = None, name: str = "a.csv"
) -> FileImport:
    path = tmp_path / name
    path.write_text(content)
    contact_file = ContactFile.open(path)
    options = ImportOptions(path, mapping or ColumnMapping())
    if contact_file.format == "csv":
        options.mapping.use_header(contact_file.columns)
    job = FileImport(contact_file, options, ledger, ProgressLines(io.StringIO()))
    job.read()
    return job


def _to_send(ledger: Ledger) -> list[dict[str, Any]]:
    """The bodies the import would send, in order."""
    return [json.loads(body) for _, body in ledger.chunk_rows(Chunk(0, 0, ledger.valid))]


def _results(ledger: Ledger, tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "results.csv"
    ledger.write_results(path)
    with path.open(newline="", encoding="utf-8") as results:
        return list(csv.DictReader(results))


def test_duplicates_add_their_companies_and_tags_to_the_first_row_in_file_order_each_once(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given one contact in three rows: the second repeats the first company with other fields and a tag
    # in another case, the third brings a third company; another contact in between
    content = (
        "email,company_id,company_name,tags\n"
        "a@example.com,acme-1,Acme,VIP;beta\n"
        "b@example.com,,,\n"
        "A@example.com,acme-2,Bolt,vip;new\n"
        "a@example.com,acme-1,Renamed,BETA;late\n"
        "a@example.com,acme-3,Cog,\n"
    )
    # When the file is read
    _read(tmp_path, ledger, content)
    # Then one body per contact is to be sent, the first row's carrying every company and tag once,
    # its own first (its fields and spellings win), then each duplicate's in file order
    first, other = _to_send(ledger)
    assert first["companies"] == [
        {"company_id": "acme-1", "name": "Acme"},
        {"company_id": "acme-2", "name": "Bolt"},
        {"company_id": "acme-3", "name": "Cog"},
    ]
    assert first["tags"] == ["VIP", "beta", "new", "late"]
    assert other == {"role": "user", "email": "b@example.com"}


def test_a_duplicates_memberships_reach_a_first_row_that_had_none(tmp_path: Path, ledger: Ledger) -> None:
    # Given a first row without company or tags, and its duplicate with both
    content = "email,company_id,tags\na@example.com,,\na@example.com,acme-1,vip\n"
    # When the file is read
    _read(tmp_path, ledger, content)
    # Then the first row sends the duplicate's company and tag, as one row with them would
    [body] = _to_send(ledger)
    single = check(
        Record(2, {"email": "a@example.com", "company_id": "acme-1", "tags": "vip"}),
        ColumnMapping(default_role="user"),
    )
    assert single.body is not None
    assert body == json.loads(single.body)
    assert list(body) == list(json.loads(single.body))


def test_the_duplicate_stays_a_duplicate_whose_message_says_where_its_memberships_went(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given a contact in two rows, each with its company and tag
    content = "email,company_id,tags\na@example.com,acme-1,vip\na@example.com,acme-2,beta\n"
    # When the file is read and its results written
    _read(tmp_path, ledger, content)
    results = _results(ledger, tmp_path)
    # Then each row shows its own company_id and tags; the second is a duplicate saying they went with row 2
    assert [(r["row"], r["status"], r["company_id"], r["tags"]) for r in results] == [
        ("2", "not_sent", "acme-1", "vip"),
        ("3", "duplicate", "acme-2", "beta"),
    ]
    assert results[1]["message"] == (
        "The same contact as row 2 (same role and email or external_id): its companies and tags were "
        "sent with row 2; its other fields were not sent."
    )


def test_a_duplicate_that_would_take_the_contact_over_10_companies_is_rejected_and_not_merged(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given one contact in 11 rows, each with its own company
    content = "email,company_id\n" + "".join(f"a@example.com,c{n}\n" for n in range(1, 12))
    # When the file is read
    job = _read(tmp_path, ledger, content)
    # Then the first row carries the first 10 companies; the 11th row is rejected, naming row 2 and the limit
    [body] = _to_send(ledger)
    assert [company["company_id"] for company in body["companies"]] == [f"c{n}" for n in range(1, 11)]
    last = _results(ledger, tmp_path)[-1]
    assert (last["row"], last["status"], last["code"]) == ("12", "rejected", "DUPLICATE_OVER_LIMIT")
    assert "row 2's contact would have 11 companies, over the 10" in last["message"]
    assert (
        "remove memberships from the file, or, for a user, move this row to a second file" in last["message"]
    )
    assert (job.tally.duplicate, job.tally.rejected) == (9, 1)


def test_a_duplicate_that_would_take_the_contact_over_20_tags_is_rejected_and_not_merged(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given a contact with 19 tags, then a duplicate adding two more, then one adding one
    first = ";".join(f"t{n}" for n in range(19))
    content = f"email,tags\na@example.com,{first}\na@example.com,x;y\na@example.com,z\n"
    # When the file is read
    _read(tmp_path, ledger, content)
    # Then the second row is rejected (21 tags) and the third still merged (20)
    [body] = _to_send(ledger)
    assert body["tags"] == [f"t{n}" for n in range(19)] + ["z"]
    results = _results(ledger, tmp_path)
    assert [(r["status"], r["code"]) for r in results] == [
        ("not_sent", ""),
        ("rejected", "DUPLICATE_OVER_LIMIT"),
        ("duplicate", ""),
    ]
    assert "row 2's contact would have 21 tags, over the 20" in results[1]["message"]


def test_a_duplicate_that_would_make_the_contact_too_large_for_a_batch_is_rejected(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given JSON Lines: a contact whose company is over half a batch (attributes of 250 characters), and
    # a duplicate bringing another as large
    def line(company_id: str) -> str:
        attributes = {f"a{n}": "x" * 250 for n in range(MAX_ROW_BYTES // 2 // 250)}
        company = {"company_id": company_id, "custom_attributes": attributes}
        return json.dumps({"role": "user", "email": "a@example.com", "companies": [company]}) + "\n"

    # When the file is read
    _read(tmp_path, ledger, line("c1") + line("c2"), name="a.jsonl")
    # Then the duplicate is rejected, naming the size limit, and the first row sends its own company alone
    [body] = _to_send(ledger)
    assert [company["company_id"] for company in body["companies"]] == ["c1"]
    second = _results(ledger, tmp_path)[1]
    assert (second["status"], second["code"]) == ("rejected", "DUPLICATE_OVER_LIMIT")
    assert f"over the {MAX_ROW_BYTES:,} a batch can carry" in second["message"]


def test_a_duplicate_with_nothing_new_leaves_the_first_rows_key_as_without_it(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given a row, the key its body has alone, and a file where a duplicate repeats its company and tag
    alone = check(
        Record(2, {"email": "a@example.com", "company_id": "acme-1", "tags": "vip"}),
        ColumnMapping(default_role="user"),
    )
    assert alone.body is not None
    content = "email,company_id,tags\na@example.com,acme-1,vip\nA@EXAMPLE.COM,acme-1,VIP\n"
    # When the file is read
    _read(tmp_path, ledger, content)
    # Then the first row's body and key are those it has alone
    assert ledger.chunk_rows(Chunk(0, 0, 1)) == [(row_key(alone.body, "user", OnConflict.RETURN), alone.body)]


def test_a_re_run_sends_the_first_row_again_when_only_a_later_duplicates_company_changed(
    tmp_path: Path, ledger: Ledger
) -> None:
    # Given a file whose first row's duplicate is its last row, and the results of a run that created both
    # contacts
    content = "email,company_id\na@example.com,acme-1\nb@example.com,\na@example.com,acme-2\n"
    _read(tmp_path, ledger, content)
    ledger.sent(Chunk(0, 0, 2), "b1")
    ledger.record("b1", [Outcome(0, "created", "c1"), Outcome(1, "created", "c2")])
    ledger.write_results(tmp_path / "a.csv.results.csv")
    # When the next run reads the file with the last row's company changed
    with Ledger(tmp_path / "next.sqlite") as following:
        following.read_earlier_results(tmp_path / "a.csv.results.csv")
        job = _read(tmp_path, following, content.replace("acme-2", "acme-3"))
        # Then the first row is sent again with its own company and the new one; the other is done
        assert (job.carried, following.valid, following.done_before()) == (1, 1, 1)
        [body] = _to_send(following)
        assert [company["company_id"] for company in body["companies"]] == ["acme-1", "acme-3"]


def test_a_dry_run_reports_a_duplicate_over_the_limit_with_its_code(tmp_path: Path) -> None:
    # Given one contact in 11 rows, each with its own company
    path = tmp_path / "contacts.csv"
    path.write_text("email,company_id\n" + "".join(f"a@example.com,c{n}\n" for n in range(1, 12)))
    out = io.StringIO()
    # When it is checked with --dry-run
    passed = run_import(
        ImportOptions(path, ColumnMapping()), api=None, progress=ProgressLines(io.StringIO()), out=out
    )
    # Then the dry run fails, naming the 11th row, its code and row 2
    assert not passed
    assert "row 12: DUPLICATE_OVER_LIMIT With this row's, row 2's contact would have 11 companies" in (
        out.getvalue()
    )
    assert "1 valid, 9 duplicate (not sent again), 1 rejected (DUPLICATE_OVER_LIMIT 1)" in out.getvalue()
