"""Reading a contacts file: CSV (comma or semicolon, BOM or not) and JSON Lines, streamed, and the files
that cannot be imported refused with a code and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from intercom_contacts.importer.problems import UsageProblem
from intercom_contacts.importer.source import ContactFile, Record


def _write(tmp_path: Path, content: str | bytes, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _records(path: Path) -> list[Record]:
    return list(ContactFile.open(path).records())


def _refusal(path: Path) -> UsageProblem:
    with pytest.raises(UsageProblem) as refused:
        _records(path)
    return refused.value


def test_a_comma_separated_file_gives_one_record_per_row_numbered_by_line(tmp_path: Path) -> None:
    # Given a CSV file with a header and two contacts
    path = _write(tmp_path, "email,name\na@example.com,Ann\nb@example.com,Bob\n")
    # When it is read
    records = _records(path)
    # Then each row is a record keyed by the header, numbered by its line (the header is line 1)
    assert records == [
        Record(2, {"email": "a@example.com", "name": "Ann"}),
        Record(3, {"email": "b@example.com", "name": "Bob"}),
    ]


def test_a_semicolon_separated_file_with_a_bom_is_read_the_same(tmp_path: Path) -> None:
    # Given what Excel writes in a European locale: a UTF-8 BOM and semicolons
    path = _write(tmp_path, "\ufeffemail;name\r\na@example.com;Ann, Jr.\r\n")
    # When it is read
    contact_file = ContactFile.open(path)
    # Then the delimiter is detected and the BOM is not part of the first column's name
    assert (contact_file.delimiter, contact_file.columns) == (";", ("email", "name"))
    assert _records(path) == [Record(2, {"email": "a@example.com", "name": "Ann, Jr."})]


def test_a_quoted_line_break_keeps_row_numbers_on_the_line_where_a_record_starts(tmp_path: Path) -> None:
    # Given a value spanning two lines, and a blank line
    path = _write(tmp_path, 'email,name\na@example.com,"Ann\nSecond line"\n\nb@example.com,Bob\n')
    # When it is read
    records = _records(path)
    # Then the blank line is skipped and each record says where it starts
    assert [(record.row, record.values["email"]) for record in records] == [
        (2, "a@example.com"),
        (5, "b@example.com"),
    ]


def test_a_row_with_more_values_than_columns_is_malformed_but_trailing_empty_ones_are_not(
    tmp_path: Path,
) -> None:
    # Given one row with an unquoted comma in a value, one with a trailing delimiter, one short row
    path = _write(tmp_path, "email,name\na@example.com,Doe, Ann\nb@example.com,Bob,\nc@example.com\n")
    # When it is read
    records = _records(path)
    # Then the first and last are malformed records (kept, so they are reported), the second is fine
    assert records[0].problem is not None
    assert "3 values but the header has 2 columns" in records[0].problem
    assert records[1] == Record(3, {"email": "b@example.com", "name": "Bob"})
    assert records[2].problem is not None


def test_json_lines_give_one_record_per_object_with_custom_attributes_as_columns(tmp_path: Path) -> None:
    # Given a JSON Lines file with a nested custom_attributes object, a blank line, and a broken line
    path = _write(
        tmp_path,
        '{"role": "user", "email": "a@example.com", "custom_attributes": {"plan": "pro", "seats": 3}}\n'
        "\n"
        '{"role": "lead", "email": \n'
        "[1, 2]\n",
        name="contacts.jsonl",
    )
    # When it is read
    records = _records(path)
    # Then attributes become custom_attributes.<name> columns, as in a CSV header
    assert records[0] == Record(
        1,
        {
            "role": "user",
            "email": "a@example.com",
            "custom_attributes.plan": "pro",
            "custom_attributes.seats": 3,
        },
    )
    # And the broken lines are records with a problem, named by their line
    assert [(record.row, bool(record.problem)) for record in records[1:]] == [(3, True), (4, True)]


def test_every_byte_read_is_counted_for_the_progress_bar(tmp_path: Path) -> None:
    content = "email,role\na@example.com,lead\n"
    contact_file = ContactFile.open(_write(tmp_path, content))
    list(contact_file.records())
    assert contact_file.bytes_read == len(content)


@pytest.mark.parametrize("content", ["", "\n\n  \n", "\ufeff"])
def test_an_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    assert _refusal(_write(tmp_path, content)).code == "EMPTY_FILE"


def test_a_tab_separated_file_is_refused_saying_so(tmp_path: Path) -> None:
    # Given a TSV file named .csv
    problem = _refusal(_write(tmp_path, "email\tname\na@example.com\tAnn\n"))
    # Then the problem names the separator and how to convert
    assert problem.code == "WRONG_DELIMITER"
    assert "tabs" in problem.message


def test_a_single_column_whose_values_hold_a_separator_is_refused(tmp_path: Path) -> None:
    # Given a header of one column, and rows that look semicolon-separated
    problem = _refusal(_write(tmp_path, "email\na@example.com;Ann\n"))
    # Then the file is refused (rather than every row rejected as an invalid email)
    assert (problem.code, "row 2" in problem.message) == ("WRONG_DELIMITER", True)


def test_a_latin1_file_is_refused_with_its_line_and_how_to_convert_it(tmp_path: Path) -> None:
    # Given a file with an é written as Latin-1 on line 3
    path = _write(tmp_path, "email,name\na@example.com,Ann\nb@example.com,Ren\xe9\n".encode("latin-1"))
    # When it is read
    problem = _refusal(path)
    # Then it is refused as not UTF-8, naming the line and the byte, with the command that converts it
    assert problem.code == "NOT_UTF8"
    assert "line 3" in problem.message
    assert "e9" in problem.message
    assert "iconv" in problem.message


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("email,email\na@example.com,b@example.com\n", "DUPLICATE_COLUMN"),
        (",,\n", "NO_HEADER"),
        ('email,name\na@example.com,"Ann\n', "MALFORMED_CSV"),
        ('email,name\na@example.com,"Ann"x\n', "MALFORMED_CSV"),
        ('[{"email": "a@example.com"}]\n', "NOT_JSON_LINES"),
    ],
)
def test_files_that_cannot_be_read_as_contacts_are_refused(tmp_path: Path, content: str, code: str) -> None:
    assert _refusal(_write(tmp_path, content)).code == code


@pytest.mark.parametrize(
    "head", [b"PK\x03\x04\x14\x00\x06\x00", b"\xff\xfee\x00m\x00a\x00i\x00l\x00", b"email\x00\x00"]
)
def test_spreadsheets_and_utf16_are_refused_before_reading(tmp_path: Path, head: bytes) -> None:
    assert _refusal(_write(tmp_path, head)).code in {"NOT_TEXT", "NOT_UTF8"}


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    assert _refusal(tmp_path / "nope.csv").code == "FILE_NOT_FOUND"
