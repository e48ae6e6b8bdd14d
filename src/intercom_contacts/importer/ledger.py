"""Every row's state during an import, in a scratch SQLite file: memory stays flat for a million rows.

The ledger holds each row's body until it is sent, the identities seen so far (to find duplicates
within the file, whose companies and tags go into the first row's body), what the last run's results
file said of each row's content (by its key), and each row's outcome as batches complete, by batch and
index; the results file is written from it in row order, and read by the next run. Which valid rows
are sent is settled once the whole file is read (`resolve`): a duplicate can change its first row's
body, and so its key, a million rows later.
"""

from __future__ import annotations

import csv
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from intercom_contacts.importer.chunks import Chunk
from intercom_contacts.models.batch import BatchCounts

RESULT_COLUMNS = (
    "row",
    "email",
    "external_id",
    "company_id",
    "tags",
    "status",
    "contact_id",
    "code",
    "message",
    "batch_id",
    "batch_index",
    "row_key",
)
# What the next run reads of a results file: one written before company_id and tags were columns too.
EARLIER_COLUMNS = ("row_key", "status", "contact_id", "code", "message", "batch_id", "batch_index")
NOT_SENT = "not_sent"  # valid, and never reached the service (the import stopped first)
PENDING = "pending"  # queued, and not finished when the import stopped
DUPLICATE = "duplicate"  # the same contact as an earlier row, which alone is sent; its contact_id is shown
FINISHED = ("created", "existing", "updated")
FOLLOWED = (PENDING, "failed")  # sent by an earlier run and not done: followed in their batch, not resent
DONE_BEFORE = "Done by an earlier run of this file; not sent again."
RESOLVE_PAGE = 10_000  # valid rows settled per query: their keys, not their bodies, are held meanwhile
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such cells are
# written with a leading quote, as OWASP advises, so they open as the text they are.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Outcome:
    """What became of one row of a batch, by its index in the batch."""

    index: int
    status: str
    contact_id: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class EarlierOutcome:
    """What the last run's results said of a row with the same content."""

    status: str
    contact_id: str | None
    code: str | None
    message: str | None
    batch_id: str | None
    batch_index: int | None

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def followed(self) -> bool:
        return self.status in FOLLOWED and self.batch_id is not None and self.batch_index is not None

    @property
    def kept(self) -> bool:
        """Not sent again: done, followed in its batch, or refused by the service (sending the same
        content again would only be refused again, and would shift the chunks after it)."""
        sent = self.batch_id is not None and self.batch_index is not None
        return self.done or self.followed or (self.status == "rejected" and sent)


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
                company_id TEXT, tags TEXT, body BLOB, status TEXT NOT NULL, contact_id TEXT, code TEXT,
                message TEXT,
                first_row INTEGER, batch_id TEXT, batch_index INTEGER, row_key TEXT
            );
            CREATE INDEX rows_by_item ON rows (batch_id, batch_index);
            CREATE TABLE identities (key TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE earlier (
                row_key TEXT PRIMARY KEY, status TEXT NOT NULL, contact_id TEXT, code TEXT, message TEXT,
                batch_id TEXT, batch_index INTEGER
            ) WITHOUT ROWID;
            """
        )
        self.valid = 0

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._db.close()

    def read_earlier_results(self, path: Path) -> None:
        """The last run's results file, if it has the columns read; other files are ignored."""
        try:
            with path.open(newline="", encoding="utf-8") as results:
                reader = csv.DictReader(results)
                if not set(EARLIER_COLUMNS) <= set(reader.fieldnames or ()):
                    return
                self._db.executemany(
                    "INSERT OR IGNORE INTO earlier VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        (
                            line["row_key"],
                            line["status"],
                            line["contact_id"] or None,
                            line["code"] or None,
                            line["message"] or None,
                            line["batch_id"] or None,
                            int(line["batch_index"]) if line["batch_index"].isdigit() else None,
                        )
                        for line in reader
                        if line["row_key"] and line["status"] in (*FINISHED, *FOLLOWED, "rejected")
                    ),
                )
        except (OSError, UnicodeDecodeError, csv.Error):  # none, or not one this tool wrote
            return

    def earlier(self, row_key: str) -> EarlierOutcome | None:
        for found in self._db.execute(
            "SELECT status, contact_id, code, message, batch_id, batch_index FROM earlier WHERE row_key = ?",
            (row_key,),
        ):
            return EarlierOutcome(*found)
        return None

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

    def add_valid(
        self,
        row: int,
        email: str | None,
        external_id: str | None,
        body: bytes,
        row_key: str,
        *,
        company_id: str | None = None,
        tags: str | None = None,
    ) -> None:
        """A valid row, the first of its contact: sent, or not, as `resolve` settles."""
        self._db.execute(
            "INSERT INTO rows (row, email, external_id, company_id, tags, body, status, row_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row, email, external_id, company_id, tags, body, NOT_SENT, row_key),
        )

    def body(self, row: int) -> bytes:
        """The body a valid row will send, with what its duplicates so far added."""
        (body,) = self._db.execute("SELECT body FROM rows WHERE row = ?", (row,)).fetchone()
        return bytes(body)

    def replace_body(self, row: int, body: bytes, row_key: str) -> None:
        """A valid row's body with a duplicate's companies and tags, and the key of that body; the
        row's own `company_id` and `tags` cells stay as the file has them."""
        self._db.execute("UPDATE rows SET body = ?, row_key = ? WHERE row = ?", (body, row_key, row))

    def resolve(self, carried: Callable[[str], EarlierOutcome | None]) -> None:
        """Once the whole file is read: each valid row, in row order, either keeps what `carried` returns
        for its key (a row an earlier run sent: done, or followed in its batch; either way not sent
        again) or is numbered among the rows to send."""
        last = 0
        while page := self._db.execute(
            "SELECT row, row_key FROM rows WHERE row > ? AND seq IS NULL AND body IS NOT NULL "
            "ORDER BY row LIMIT ?",
            (last, RESOLVE_PAGE),
        ).fetchall():
            for row, row_key in page:
                earlier = carried(row_key)
                if earlier is None:
                    self._db.execute("UPDATE rows SET seq = ? WHERE row = ?", (self.valid, row))
                    self.valid += 1
                    continue
                self._db.execute(
                    "UPDATE rows SET body = NULL, status = ?, contact_id = ?, code = ?, message = ?, "
                    "batch_id = ?, batch_index = ? WHERE row = ?",
                    (
                        earlier.status,
                        earlier.contact_id,
                        earlier.code,
                        DONE_BEFORE if earlier.done else earlier.message,
                        earlier.batch_id,
                        earlier.batch_index,
                        row,
                    ),
                )
            last = page[-1][0]

    def add_rejected(
        self,
        row: int,
        email: str | None,
        external_id: str | None,
        code: str,
        message: str,
        *,
        company_id: str | None = None,
        tags: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO rows (row, email, external_id, company_id, tags, status, code, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row, email, external_id, company_id, tags, "rejected", code, message),
        )

    def add_duplicate(
        self,
        row: int,
        email: str | None,
        external_id: str | None,
        first_row: int,
        message: str,
        *,
        company_id: str | None = None,
        tags: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO rows (row, email, external_id, company_id, tags, status, message, first_row) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row, email, external_id, company_id, tags, DUPLICATE, message, first_row),
        )

    def followed_batches(self) -> dict[str, BatchCounts]:
        """The batches of rows an earlier run sent and did not see done, each with its rows' counts."""
        counts: dict[str, Counter[str]] = {}
        for batch_id, status, count in self._db.execute(
            "SELECT batch_id, status, count(*) FROM rows WHERE batch_id IN "
            "(SELECT batch_id FROM rows WHERE seq IS NULL AND status IN ('pending', 'failed')) "
            "GROUP BY batch_id, status ORDER BY min(row)"
        ):
            counts.setdefault(batch_id, Counter())[status] = count
        return {
            batch_id: BatchCounts(total=sum(by_status.values()), **by_status)
            for batch_id, by_status in counts.items()
        }

    def expire(self, batch_id: str, message: str) -> None:
        """The service no longer keeps this batch: its unfinished rows can no longer be followed."""
        self._db.execute(
            "UPDATE rows SET code = 'BATCH_EXPIRED', message = ? "
            "WHERE batch_id = ? AND status IN ('pending', 'failed')",
            (message, batch_id),
        )
        self._db.commit()

    def body_sizes(self) -> Iterator[int]:
        """Each valid row's body size, in order: what chunks are planned from."""
        for (size,) in self._db.execute("SELECT length(body) FROM rows WHERE seq IS NOT NULL ORDER BY seq"):
            yield int(size)

    def chunk_rows(self, chunk: Chunk) -> list[tuple[str, bytes]]:
        """The key and body of each row of the chunk, in order."""
        cursor = self._db.execute(
            "SELECT row_key, body FROM rows WHERE seq >= ? AND seq < ? ORDER BY seq",
            (chunk.first_seq, chunk.first_seq + chunk.size),
        )
        return [(str(key), bytes(body)) for key, body in cursor]

    def sent(self, chunk: Chunk, batch_id: str) -> None:
        """The chunk's rows are items 0.. of this batch; their outcomes are recorded by batch and index."""
        self._db.execute(
            "UPDATE rows SET batch_id = ?, batch_index = seq - ? WHERE seq >= ? AND seq < ?",
            (batch_id, chunk.first_seq, chunk.first_seq, chunk.first_seq + chunk.size),
        )

    def record(self, batch_id: str, outcomes: Iterable[Outcome]) -> None:
        """Outcomes by index; a row already finished keeps what it has (a finished item never changes)."""
        self._db.executemany(
            "UPDATE rows SET status = ?, contact_id = ?, code = ?, message = ? "
            "WHERE batch_id = ? AND batch_index = ? AND status NOT IN ('created', 'existing', 'updated')",
            (
                (item.status, item.contact_id, item.code, item.message, batch_id, item.index)
                for item in outcomes
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

    def done_before(self) -> int:
        """Rows done by an earlier run, not sent by this one."""
        query = "SELECT count(*) FROM rows WHERE message = ? AND seq IS NULL"
        return int(self._db.execute(query, (DONE_BEFORE,)).fetchone()[0])

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
                        "SELECT this.row, this.email, this.external_id, this.company_id, this.tags, "
                        "this.status, "
                        "coalesce(this.contact_id, first.contact_id), this.code, this.message, "
                        "this.batch_id, this.batch_index, this.row_key "
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
