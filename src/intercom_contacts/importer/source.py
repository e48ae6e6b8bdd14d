"""Read a contacts file as a stream of records: CSV with a header row, or JSON Lines.

The file is read line by line as bytes, so memory stays flat however long it is, and each line is
decoded on its own, so a byte that is not UTF-8 is reported with its line. A record's `row` is the
line where it starts, as an editor numbers them: in a CSV file the header is line 1, so the first
contact is row 2.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from intercom_contacts.importer.problems import UsageProblem

Format = Literal["csv", "jsonl"]
DELIMITERS = (",", ";")
FOREIGN_DELIMITERS = {"\t": "tabs", "|": "'|'"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
ATTRIBUTE_PREFIX = "custom_attributes."
SNIFF_BYTES = 4096
ZIP_MAGIC = b"PK\x03\x04"
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class Record:
    """One contact as the file has it: column -> value (CSV: text; JSON Lines: JSON values).

    `problem` is set, and `values` empty, when the record itself is broken (MALFORMED_ROW).
    """

    row: int
    values: dict[str, Any]
    problem: str | None = None


@dataclass
class ContactFile:
    """A file to import, checked enough at opening to refuse what cannot be a contacts file."""

    path: Path
    format: Format
    size: int
    delimiter: str = ","
    columns: tuple[str, ...] = ()
    bytes_read: int = field(default=0, init=False)

    @classmethod
    def open(cls, path: Path) -> ContactFile:
        try:
            size = path.stat().st_size
            with path.open("rb") as binary:
                head = binary.read(SNIFF_BYTES)
        except FileNotFoundError:
            raise UsageProblem("FILE_NOT_FOUND", f"{path} does not exist; check the path.") from None
        except IsADirectoryError:
            raise UsageProblem("FILE_UNREADABLE", f"{path} is a directory; give a file.") from None
        except OSError as error:
            raise UsageProblem("FILE_UNREADABLE", f"{path} cannot be read ({error.strerror}).") from None
        _refuse_binary(path, head)
        first = _first_line(path)
        if first is None:
            raise UsageProblem(
                "EMPTY_FILE",
                f"{path} is empty; write a header row and one contact per row (CSV), "
                "or one JSON object per line (JSON Lines).",
            )
        if path.suffix.lower() in JSONL_SUFFIXES or first.lstrip().startswith(("{", "[")):
            if first.lstrip().startswith("["):
                raise UsageProblem(
                    "NOT_JSON_LINES",
                    f"{path} holds a JSON array; write one JSON object per line (JSON Lines), "
                    "e.g. with: jq -c '.[]' FILE > FILE.jsonl",
                )
            return cls(path, "jsonl", size)
        delimiter, columns = _header(path, first)
        return cls(path, "csv", size, delimiter, columns)

    def records(self) -> Iterator[Record]:
        """Every record, in file order; each call reads the file anew."""
        self.bytes_read = 0
        with self.path.open("rb") as binary:
            lines = self._decoded_lines(binary)
            if self.format == "jsonl":
                yield from _json_records(lines)
            else:
                yield from self._csv_records(lines)

    def _decoded_lines(self, binary: BinaryIO) -> Iterator[str]:
        for number, raw in enumerate(binary, start=1):
            self.bytes_read += len(raw)
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise _not_utf8(self.path, number, raw[error.start : error.end]) from None

    def _csv_records(self, lines: Iterator[str]) -> Iterator[Record]:
        reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
        last_line, header_seen = 0, False
        try:
            for values in reader:
                row, last_line = last_line + 1, reader.line_num
                if not any(value.strip() for value in values):
                    continue
                if header_seen:
                    yield self._csv_record(row, values)
                header_seen = True  # the header itself was read by open()
        except csv.Error as error:
            raise UsageProblem(
                "MALFORMED_CSV",
                f"{self.path}, line {reader.line_num}: {error}; check the quotes around that line "
                "(a value with a delimiter, quote or line break must be in double quotes, "
                'with its own quotes doubled: "say ""hi""").',
            ) from None

    def _csv_record(self, row: int, values: list[str]) -> Record:
        width = len(self.columns)
        if len(values) < width or any(value.strip() for value in values[width:]):
            return Record(
                row,
                {},
                f"has {len(values)} values but the header has {width} columns; "
                "check for a delimiter inside a value that is not in double quotes",
            )
        if unnamed := [n for n, name in enumerate(self.columns, 1) if not name and values[n - 1].strip()]:
            return Record(row, {}, f"has a value in column {unnamed[0]}, which has no name in the header")
        if width == 1 and (separator := _separator_in(values[0])):
            raise UsageProblem(
                "WRONG_DELIMITER",
                f"{self.path} has a single column ({self.columns[0]!r}) but row {row} contains "
                f"{separator}; separate the columns with commas or semicolons in the header too.",
            )
        return Record(row, {name: value for name, value in zip(self.columns, values, strict=False) if name})


def _json_records(lines: Iterator[str]) -> Iterator[Record]:
    for row, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield Record(row, {}, f"is not valid JSON ({error.msg} at column {error.colno})")
            continue
        except RecursionError:
            yield Record(row, {}, "is nested too deeply for a contact")
            continue
        if not isinstance(value, dict):
            yield Record(row, {}, "is not a JSON object; write one contact object per line")
            continue
        yield _flattened(row, value)


def _flattened(row: int, contact: dict[str, Any]) -> Record:
    """A JSON object's `custom_attributes` become `custom_attributes.<name>` columns, as in CSV."""
    attributes = contact.get("custom_attributes")
    if attributes is not None and not isinstance(attributes, dict):
        return Record(row, {}, "has custom_attributes that is not a JSON object")
    values = {name: value for name, value in contact.items() if name != "custom_attributes"}
    for name, value in (attributes or {}).items():
        values[ATTRIBUTE_PREFIX + name] = value
    return Record(row, values)


def _refuse_binary(path: Path, head: bytes) -> None:
    if head.startswith(ZIP_MAGIC):
        raise UsageProblem(
            "NOT_TEXT",
            f"{path} is a zip file, perhaps an Excel workbook; export it as 'CSV UTF-8' and import that.",
        )
    if head.startswith(UTF16_BOMS):
        raise UsageProblem(
            "NOT_UTF8",
            f"{path} is UTF-16; save it as UTF-8 (in Excel: 'CSV UTF-8'), "
            "or convert it: iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8.csv",
        )
    if b"\x00" in head:
        raise UsageProblem(
            "NOT_TEXT", f"{path} is not a text file (it contains NUL bytes); export it as CSV or JSON Lines."
        )


def _first_line(path: Path) -> str | None:
    """The first line that is not blank, decoded; None for a file with nothing in it."""
    with path.open("rb") as binary:
        for number, raw in enumerate(binary, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise _not_utf8(path, number, raw[error.start : error.end]) from None
            if line.strip():
                return line
    return None


def _header(path: Path, first: str) -> tuple[str, tuple[str, ...]]:
    """The delimiter is whichever of comma and semicolon splits the header into more columns."""
    delimiter = max(DELIMITERS, key=lambda candidate: len(next(csv.reader([first], delimiter=candidate))))
    columns = tuple(name.strip() for name in next(csv.reader([first], delimiter=delimiter)))
    if len(columns) == 1 and (separator := _separator_in(columns[0])):
        raise UsageProblem(
            "WRONG_DELIMITER",
            f"{path} seems to separate its columns with {separator}; only commas and semicolons are "
            "read: save it as CSV (comma-separated), or convert it, e.g. tr '\\t' ',' < FILE > FILE.csv "
            "for tabs when no value contains a comma.",
        )
    named = [name for name in columns if name]
    if not named:
        raise UsageProblem("NO_HEADER", f"{path} has an empty header row; name every column in line 1.")
    if len(set(named)) != len(named):
        repeated = sorted({name for name in named if named.count(name) > 1})
        raise UsageProblem(
            "DUPLICATE_COLUMN",
            f"{path} names these columns more than once: {', '.join(repeated)}; keep one of each.",
        )
    return delimiter, columns


def _separator_in(text: str) -> str | None:
    for separator, name in {**FOREIGN_DELIMITERS, ",": "commas", ";": "semicolons"}.items():
        if separator in text:
            return name
    return None


def _not_utf8(path: Path, line: int, bad: bytes) -> UsageProblem:
    converted = path.with_name(f"{path.stem}.utf8{path.suffix}")
    return UsageProblem(
        "NOT_UTF8",
        f"{path} is not UTF-8: line {line} has the byte(s) {bad.hex(' ')}, which is how Latin-1 or "
        "Windows-1252 writes accented letters. Convert it and import the copy: "
        f"iconv -f WINDOWS-1252 -t UTF-8 {os.fspath(path)} > {os.fspath(converted)} "
        "(or in Excel, save as 'CSV UTF-8').",
    )
