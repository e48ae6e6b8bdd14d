"""The valid rows in chunks for `POST /contacts/batch`, each row's key and each chunk's idempotency key.

A row's key is a hash of what it sends (its body as validated, and `on_conflict` for a user, the only
role it changes anything for): the same content is the same row wherever it moves in the file. The
results file records each row's key with where it was sent, so the next run sends again only rows
whose content it has not seen done (run.py). The API takes one Idempotency-Key per batch (its items
are keyed `<key>:<index>`), so a chunk's key is a hash of its rows' keys in order: the same rows in
the same order post the same batch, and a run stopped part-way posts the rest under the keys it had.
A chunk holds up to 1,000 rows and stays under the API's body limit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from intercom_contacts.models.batch import MAX_BATCH_ITEMS
from intercom_contacts.models.contact import OnConflict

# The API refuses bodies over 256 KiB (handlers/api.py: MAX_BODY_BYTES); the rest is headroom for
# anything between here and the function that might re-encode the body.
MAX_CHUNK_BYTES = 240 * 1024
ENVELOPE = b'{"contacts":[', b"]}"
MAX_ROW_BYTES = MAX_CHUNK_BYTES - len(b"".join(ENVELOPE))
KEY_PREFIX = "intercom-contacts-import"
# Part of every key: a change to how rows become bodies must bump it, or a re-run would post a
# different body under a key the service has seen (IDEMPOTENCY_KEY_REUSED).
KEY_VERSION = 2


@dataclass(frozen=True)
class Chunk:
    """Valid rows `first_seq` to `first_seq + size - 1` (their order among the file's valid rows)."""

    number: int
    first_seq: int
    size: int


def plan(sizes: Iterable[int]) -> Iterator[Chunk]:
    """Chunks over the valid rows, given each row's body size in bytes, in order."""
    number = first = count = used = 0
    for size in sizes:
        if count and (count == MAX_BATCH_ITEMS or used + 1 + size > MAX_ROW_BYTES):
            yield Chunk(number, first, count)
            number, first, count, used = number + 1, first + count, 0, 0
        used += size + (1 if count else 0)
        count += 1
    if count:
        yield Chunk(number, first, count)


def body(contacts: Sequence[bytes]) -> bytes:
    """The request body: the rows' JSON, as they were validated, in a `contacts` list."""
    return ENVELOPE[0] + b",".join(contacts) + ENVELOPE[1]


def row_key(body: bytes, role: str, on_conflict: OnConflict) -> str:
    """What a row sends; a lead's does not depend on `on_conflict` (leads never conflict), so a lead
    done by a run with `--on-conflict return` is not created again by one with `update`."""
    conflict = on_conflict.value if role == "user" else ""
    return hashlib.sha256(f"{KEY_VERSION}\n{conflict}\n".encode() + body).hexdigest()[:32]


def chunk_key(on_conflict: OnConflict, row_keys: Sequence[str]) -> str:
    """Printable ASCII, well under the API's 200 characters, with room for the service's `:index`."""
    rows = hashlib.sha256(f"{KEY_VERSION}\n{on_conflict.value}\n{','.join(row_keys)}".encode())
    return f"{KEY_PREFIX}-{rows.hexdigest()[:40]}"
