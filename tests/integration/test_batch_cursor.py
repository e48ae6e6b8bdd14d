"""GET /contacts/batch/{id} pages with a plain cursor, checked strictly: it pretends to no secrecy (it
only names a position in a batch its holder can read anyway), and refuses anything that is not
exactly one of this batch's positions for this filter. Real moto."""

from __future__ import annotations

import pytest

from tests.integration.conftest import LEAD, CallApi, WorkerQueues


def _batch(call_api: CallApi, size: int) -> str:
    contacts = [{**LEAD, "email": f"c{n}@example.com"} for n in range(size)]
    batch_id: str = call_api({"contacts": contacts}, path="/contacts/batch").body["batch_id"]
    return batch_id


def test_the_cursor_is_the_plain_position_it_names(call_api: CallApi, queues: WorkerQueues) -> None:
    # Given a batch of five items and the cursor its first page of two gives
    batch_id = _batch(call_api, 5)
    first = call_api(method="GET", path=f"/contacts/batch/{batch_id}", query={"limit": "2"}).body
    # When the next page is asked for with that cursor, and with one written by hand
    given = call_api(
        method="GET", path=f"/contacts/batch/{batch_id}", query={"limit": "2", "cursor": first["next_cursor"]}
    ).body
    written = call_api(
        method="GET", path=f"/contacts/batch/{batch_id}", query={"limit": "2", "cursor": f"{batch_id}.3"}
    ).body
    # Then the cursor says in plain text where the page ended, and a hand-written one is that position
    assert first["next_cursor"] == f"{batch_id}.1"
    assert [item["index"] for item in given["items"]] == [2, 3]
    assert [item["index"] for item in written["items"]] == [4]


@pytest.mark.parametrize(
    "cursor",
    [
        "{batch_id}.1.",
        "{batch_id}.01",
        "{batch_id}.1000",
        "{batch_id}.-1",
        "{batch_id}.1.pending",  # another filter's
        "{other_id}.1",  # another batch's
        " {batch_id}.1",
        "{batch_id}.1\n",
    ],
)
def test_a_cursor_that_is_not_exactly_one_of_this_pages_is_refused(
    call_api: CallApi, queues: WorkerQueues, cursor: str
) -> None:
    # Given two batches
    batch_id, other_id = _batch(call_api, 3), _batch(call_api, 3)
    # When the first is read with a cursor that is not one of its unfiltered pages'
    answer = call_api(
        method="GET",
        path=f"/contacts/batch/{batch_id}",
        query={"cursor": cursor.format(batch_id=batch_id, other_id=other_id)},
    )
    # Then it is a 400 that says to start again
    assert (answer.status, answer.body["code"]) == (400, "INVALID_CURSOR")
