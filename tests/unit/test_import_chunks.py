"""Chunks of the valid rows and their idempotency keys: the same file and options always give the same."""

from __future__ import annotations

import re

from intercom_contacts.handlers.api import MAX_BODY_BYTES
from intercom_contacts.importer.chunks import (
    MAX_CHUNK_BYTES,
    MAX_ROW_BYTES,
    Chunk,
    body,
    chunk_key,
    plan,
    run_id,
)
from intercom_contacts.models.contact import OnConflict

DIGEST = "ab" * 32


def test_chunks_hold_at_most_1000_rows() -> None:
    assert list(plan([100] * 2500)) == [Chunk(0, 0, 1000), Chunk(1, 1000, 1000), Chunk(2, 2000, 500)]


def test_a_chunk_ends_before_its_body_would_pass_the_limit() -> None:
    # Given rows of 100 KB each
    chunks = list(plan([100_000] * 5))
    # Then two fit in a chunk, and every chunk's body is under the limit
    assert [chunk.size for chunk in chunks] == [2, 2, 1]
    assert all(len(body([b"x" * 100_000] * chunk.size)) <= MAX_CHUNK_BYTES for chunk in chunks)
    assert len(body([b"x" * MAX_ROW_BYTES])) == MAX_CHUNK_BYTES


def test_the_chunk_limit_is_under_the_apis_body_limit() -> None:
    assert MAX_CHUNK_BYTES < MAX_BODY_BYTES


def test_no_rows_no_chunks() -> None:
    assert list(plan([])) == []


def test_the_body_is_the_rows_json_in_a_contacts_list() -> None:
    assert body([b'{"role":"lead"}', b'{"role":"user"}']) == b'{"contacts":[{"role":"lead"},{"role":"user"}]}'


def test_keys_are_stable_for_the_same_file_and_options() -> None:
    mapping = {"attributes": [["seats", "integer"]], "ignored": [], "default_role": None}
    first = chunk_key(run_id(DIGEST, OnConflict.RETURN, mapping), Chunk(3, 3000, 1000))
    again = chunk_key(run_id(DIGEST, OnConflict.RETURN, dict(mapping)), Chunk(3, 3000, 1000))
    assert first == again


def test_keys_change_with_the_file_the_options_and_the_chunk() -> None:
    mapping = {"attributes": [], "ignored": [], "default_role": None}
    base = run_id(DIGEST, OnConflict.RETURN, mapping)
    assert base != run_id("cd" * 32, OnConflict.RETURN, mapping)
    assert base != run_id(DIGEST, OnConflict.UPDATE, mapping)
    assert base != run_id(DIGEST, OnConflict.RETURN, {**mapping, "default_role": "lead"})
    assert chunk_key(base, Chunk(0, 0, 1)) != chunk_key(base, Chunk(1, 1, 1))


def test_keys_are_printable_ascii_under_200_characters_with_room_for_the_item_index() -> None:
    key = chunk_key(run_id(DIGEST, OnConflict.FAIL, {}), Chunk(999_999, 0, 1))
    assert re.fullmatch(r"[\x21-\x7e]{1,200}", f"{key}:999")
