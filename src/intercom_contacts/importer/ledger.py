"""Every row's state during an import, in a scratch SQLite file: memory stays flat for a million rows.

The ledger holds each row's body until it is sent, the identities seen so far (to find duplicates
within the file) and each row's outcome as batches complete; the results file is written from it
in row order.
"""

from __future__ import annotations

import csv
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from intercom_contacts.importer.chunks import Chunk

RESULT_COLUMNS = ("row", "email", "external_id", "status", "contact_id", "code", "message")
NOT_SENT = "not_sent"  # valid, and never reached the service (the import stopped first)
PENDING = "pending"  # queued, and not finished when the import stopped
DUPLICATE = "duplicate"  # the same contact as an earlier row, which alone is sent; its contact_id is shown
FINISHED = ("created", "existing", "updated")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such cells are
# written with a leading quote, as OWASP advises, so they open as the text they are.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Outcome:
    """What became of one row of a chunk, by its index in the chunk."""

    index: int
    status: str
    contact_id: str | None = None
    code: str | None = None
    message: str | None = None


class Ledger:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path)
        # Scratch data, rebuilt by every run: no journal, no waiting for the disk.
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE rows (
                row INTEGER PRIMARY KEY, seq INTEGER UNIQUE, email TEXT, external_id TEXT,
                body BLOB, status TEXT NOT NULL, contact_id TEXT, code TEXT, message TEXT,
                first_row INTEGER
            );
            CREATE TABLE identities (key TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID;
            """
        )
        self.valid = 0

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._db.close()

    def claim(self, identities: Iterable[str], row: int) -> int | None:
        """The earlier row with one of these identities; None (and they are this row's now) if none."""
        keys = list(identities)
        earlier = [
            found
            for key in keys
            for (found,) in self._db.execute("SELECT row FROM identities WHERE key = ?", (key,))
        ]
        if earlier:
            return int(min(earlier))
        self._db.executemany("INSERT INTO identities VALUES (?, ?)", [(key, row) for key in keys])
        return None

    def add_valid(self, row: int, email: str | None, external_id: str | None, body: bytes) -> None:
        self._db.execute(
            "INSERT INTO rows (row, seq, email, external_id, body, status) VALUES (?, ?, ?, ?, ?, ?)",
            (row, self.valid, email, external_id, body, NOT_SENT),
        )
        self.valid += 1

    def add_rejected(
        self, row: int, email: str | None, external_id: str | None, code: str, message: str
    ) -> None:
        self._db.execute(
            "INSERT INTO rows (row, email, external_id, status, code, message) VALUES (?, ?, ?, ?, ?, ?)",
            (row, email, external_id, "rejected", code, message),
        )

    def add_duplicate(
        self, row: int, email: str | None, external_id: str | None, first_row: int, message: str
    ) -> None:
        self._db.execute(
            "INSERT INTO rows (row, email, external_id, status, message, first_row) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (row, email, external_id, DUPLICATE, message, first_row),
        )

    def body_sizes(self) -> Iterator[int]:
        """Each valid row's body size, in order: what chunks are planned from."""
        for (size,) in self._db.execute("SELECT length(body) FROM rows WHERE seq IS NOT NULL ORDER BY seq"):
            yield int(size)

    def bodies(self, chunk: Chunk) -> list[bytes]:
        cursor = self._db.execute(
            "SELECT body FROM rows WHERE seq >= ? AND seq < ? ORDER BY seq",
            (chunk.first_seq, chunk.first_seq + chunk.size),
        )
        return [bytes(body) for (body,) in cursor]

    def record(self, chunk: Chunk, outcomes: Iterable[Outcome]) -> None:
        self._db.executemany(
            "UPDATE rows SET status = ?, contact_id = ?, code = ?, message = ? WHERE seq = ?",
            (
                (item.status, item.contact_id, item.code, item.message, chunk.first_seq + item.index)
                for item in outcomes
                if 0 <= item.index < chunk.size
            ),
        )
        self._db.commit()

    def rejected(self) -> Iterator[tuple[int, str, str]]:
        """(row, code, message) of every rejected row, in row order."""
        yield from self._db.execute(
            "SELECT row, code, message FROM rows WHERE status = 'rejected' ORDER BY row"
        )

    def statuses(self) -> Counter[tuple[str, str | None]]:
        """How many rows ended in each (status, code)."""
        return Counter(
            {
                (status, code): count
                for status, code, count in self._db.execute(
                    "SELECT status, code, count(*) FROM rows GROUP BY status, code"
                )
            }
        )

    def write_results(self, path: Path) -> None:
        """One line per row in row order, written beside and then moved over any older results."""
        partial = path.with_name(f".{path.name}.partial")
        with partial.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(RESULT_COLUMNS)
            writer.writerows(
                map(
                    _as_text,
                    self._db.execute(
                        "SELECT this.row, this.email, this.external_id, this.status, "
                        "coalesce(this.contact_id, first.contact_id), this.code, this.message "
                        "FROM rows AS this LEFT JOIN rows AS first ON first.row = this.first_row "
                        "ORDER BY this.row"
                    ),
                )
            )
        os.replace(partial, path)


def _as_text(cells: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(
        "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell for cell in cells
    )
