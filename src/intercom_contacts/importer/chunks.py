"""The valid rows in chunks for `POST /contacts/batch`, and each chunk's idempotency key.

A chunk holds up to 1,000 rows and stays under the API's body limit. Chunks and keys depend only on
the file's bytes and the options that change what is sent, so running the same import again posts
the same chunks with the same keys: the service answers with the batches it already has and queues
nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
KEY_VERSION = 1


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


def run_id(file_digest: str, on_conflict: OnConflict, mapping: Mapping[str, Any]) -> str:
    """Names one import: the file's content and every option that changes what is sent."""
    options = json.dumps(
        {"version": KEY_VERSION, "on_conflict": on_conflict.value, "mapping": mapping}, sort_keys=True
    )
    return hashlib.sha256(f"{file_digest}\n{options}".encode()).hexdigest()[:40]


def chunk_key(run: str, chunk: Chunk) -> str:
    """Printable ASCII, well under the API's 200 characters, with room for the service's `:index`."""
    return f"{KEY_PREFIX}-{run}-{chunk.number}"
