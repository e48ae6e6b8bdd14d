"""RunLog's intake writes against a stubbed DynamoDB client under throttling: BatchWriteItem answers
with UnprocessedItems, which botocore does not retry itself (Stubber checks each call's items)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from intercom_contacts.errors import RunLogUnavailable
from intercom_contacts.run_log import RunLog

TABLE = "run-log"


def _records(count: int) -> list[dict[str, Any]]:
    return [{"pk": {"S": "b"}, "sk": {"S": f"item#{n:05d}"}} for n in range(count)]


def _requests(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {TABLE: [{"PutRequest": {"Item": record}} for record in records]}


@pytest.fixture
def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def test_only_the_items_dynamodb_left_unprocessed_are_written_again(dynamodb: Any) -> None:
    # Given DynamoDB throttles two of three items once
    records = _records(3)
    stub = Stubber(dynamodb)
    stub.add_response(
        "batch_write_item", {"UnprocessedItems": _requests(records[1:])}, {"RequestItems": _requests(records)}
    )
    stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": _requests(records[1:])})
    # When the chunk is written, then the second call carries only those two, and nothing is raised
    with stub:
        RunLog(dynamodb, TABLE, ttl_seconds=60)._write_batch(records)
    stub.assert_no_pending_responses()


def test_items_still_throttled_after_five_calls_make_the_run_log_unavailable(dynamodb: Any) -> None:
    # Given DynamoDB leaves an item unprocessed on every call
    records = _records(2)
    stub = Stubber(dynamodb)
    stub.add_response(
        "batch_write_item", {"UnprocessedItems": _requests(records[1:])}, {"RequestItems": _requests(records)}
    )
    for _ in range(4):
        stub.add_response(
            "batch_write_item",
            {"UnprocessedItems": _requests(records[1:])},
            {"RequestItems": _requests(records[1:])},
        )
    # When the chunk is written, then the intake is told the run log is unavailable (a 503; nothing
    # has been queued yet, and a resend with the same key writes what is missing)
    with stub, pytest.raises(RunLogUnavailable):
        RunLog(dynamodb, TABLE, ttl_seconds=60)._write_batch(records)
    stub.assert_no_pending_responses()
