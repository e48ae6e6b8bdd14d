"""Chunks of the valid rows, each row's key and each chunk's idempotency key: the same content gives the same."""

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
    row_key,
)
from intercom_contacts.models.contact import OnConflict


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


LEAD, USER = b'{"role":"lead","email":"a@example.com"}', b'{"role":"user","email":"a@example.com"}'


def test_a_rows_key_depends_on_its_content_only() -> None:
    assert row_key(LEAD, "lead", OnConflict.RETURN) == row_key(LEAD, "lead", OnConflict.RETURN)
    assert row_key(LEAD, "lead", OnConflict.RETURN) != row_key(
        LEAD.replace(b"a@", b"b@"), "lead", OnConflict.RETURN
    )


def test_on_conflict_changes_a_users_key_but_not_a_leads() -> None:
    # A lead is never in conflict: the same lead sent with another on_conflict would be a second lead
    assert row_key(LEAD, "lead", OnConflict.RETURN) == row_key(LEAD, "lead", OnConflict.UPDATE)
    assert row_key(USER, "user", OnConflict.RETURN) != row_key(USER, "user", OnConflict.UPDATE)


def test_a_chunks_key_is_its_rows_keys_in_order_and_on_conflict() -> None:
    rows = ["k1", "k2", "k3"]
    assert chunk_key(OnConflict.RETURN, rows) == chunk_key(OnConflict.RETURN, list(rows))
    assert chunk_key(OnConflict.RETURN, rows) != chunk_key(OnConflict.RETURN, ["k2", "k1", "k3"])
    assert chunk_key(OnConflict.RETURN, rows) != chunk_key(OnConflict.RETURN, rows[:2])
    assert chunk_key(OnConflict.RETURN, rows) != chunk_key(OnConflict.UPDATE, rows)


def test_keys_are_printable_ascii_under_200_characters_with_room_for_the_item_index() -> None:
    key = chunk_key(OnConflict.FAIL, [row_key(USER, "user", OnConflict.FAIL)] * 1000)
    assert re.fullmatch(r"[\x21-\x7e]{1,200}", f"{key}:999")
