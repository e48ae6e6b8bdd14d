"""The send journal's claim, when DynamoDB's answers are the tricky ones (botocore's Stubber)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from intercom_contacts.errors import IdempotencyKeyReused, IdempotencyStoreUnavailable
from intercom_contacts.sends import JournalEntry, SendJournal, Sent, SentBefore

LEAD = {"role": "lead", "email": "l@example.com"}
PUT = {
    "TableName": "idempotency",
    "Item": ANY,
    "ConditionExpression": "attribute_not_exists(id) OR attempt = :earlier",
    "ExpressionAttributeValues": {":earlier": {"S": ""}},
    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
}
LAST_SEND_BY = 1_800_000_030.0


@pytest.fixture
def journal() -> tuple[JournalEntry, Stubber]:
    dynamodb = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    sends = SendJournal(dynamodb, "idempotency", function="CreateContactFunction", ttl_seconds=60)
    return sends.entry("crm-42", LEAD), Stubber(dynamodb)


def _refused(item: dict[str, Any]) -> dict[str, Any]:
    return {"service_error_code": "ConditionalCheckFailedException", "modeled_fields": {"Item": item}}


def test_a_first_claim_records_this_send(journal: tuple[JournalEntry, Stubber]) -> None:
    claims, stub = journal
    stub.add_response("put_item", {}, PUT)
    with stub:
        mine = claims.claim(last_send_by=LAST_SEND_BY)
    assert mine.last_send_by == LAST_SEND_BY


def test_a_claim_another_attempt_made_says_when_it_sent(journal: tuple[JournalEntry, Stubber]) -> None:
    claims, stub = journal
    earlier = {
        "id": {"S": "sent#CreateContactFunction#crm-42"},
        "body": {"S": claims.body_hash},
        "sent_at": {"N": "1800000000.5"},
        "last_send_by": {"N": "1800000028.5"},
        "attempt": {"S": "other"},
    }
    stub.add_client_error("put_item", **_refused(earlier), expected_params=PUT)
    with stub, pytest.raises(SentBefore) as sent:
        claims.claim(last_send_by=LAST_SEND_BY)
    assert sent.value.earlier == Sent("other", 1_800_000_000.5, 1_800_000_028.5)


def test_the_same_key_sent_with_another_body_is_a_reused_key_not_a_send(
    journal: tuple[JournalEntry, Stubber],
) -> None:
    # Given an earlier request sent another body under this function's key
    claims, stub = journal
    other = {"body": {"S": "0" * 64}, "sent_at": {"N": "1800000000.5"}, "attempt": {"S": "other"}}
    stub.add_client_error("put_item", **_refused(other), expected_params=PUT)
    # When this request claims the key
    # Then the key is reused (the caller's mistake), never a sign that this contact was sent
    with stub, pytest.raises(IdempotencyKeyReused):
        claims.claim(last_send_by=LAST_SEND_BY)


def test_keys_are_namespaced_by_function_and_hold_the_body_hash() -> None:
    # Given the API's journal and the worker's, on one table
    dynamodb = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    api = SendJournal(dynamodb, "idempotency", function="CreateContactFunction", ttl_seconds=60)
    worker = SendJournal(dynamodb, "idempotency", function="ContactWorkerFunction", ttl_seconds=60)
    stub = Stubber(dynamodb)
    for function in ("CreateContactFunction", "ContactWorkerFunction"):
        item = {"id": {"S": f"sent#{function}#K:0"}, "body": ANY, "sent_at": ANY, "last_send_by": ANY}
        stub.add_response("put_item", {}, {**PUT, "Item": {**item, "attempt": ANY, "expiration": ANY}})
    # When each claims the key K:0 (the API's own key, the worker's item 0 of batch K)
    # Then each writes its own item
    with stub:
        api.entry("K:0", LEAD).claim(last_send_by=LAST_SEND_BY)
        worker.entry("K:0", {**LEAD, "email": "other@example.com"}).claim(last_send_by=LAST_SEND_BY)
    stub.assert_no_pending_responses()


def test_a_claim_in_place_of_an_earlier_send_replaces_only_that_send(
    journal: tuple[JournalEntry, Stubber],
) -> None:
    claims, stub = journal
    stub.add_response("put_item", {}, {**PUT, "ExpressionAttributeValues": {":earlier": {"S": "other"}}})
    with stub:
        claims.claim(last_send_by=LAST_SEND_BY, replacing=Sent("other", 1_800_000_000.5, 1_800_000_028.5))
    stub.assert_no_pending_responses()


def test_a_claim_refused_because_botocore_sent_it_twice_is_still_the_first(
    journal: tuple[JournalEntry, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the claim's first try timed out but was applied, and botocore's retry met it
    claims, stub = journal
    monkeypatch.setattr("uuid.uuid4", lambda: uuid.UUID(int=7))
    mine = uuid.UUID(int=7).hex
    stub.add_client_error(
        "put_item",
        **_refused({"sent_at": {"N": "1800000000.5"}, "attempt": {"S": mine}}),
        expected_params=PUT,
    )
    # When the claim reads the item it finds
    with stub:
        # Then it knows the item is its own: nothing was sent before
        assert claims.claim(last_send_by=LAST_SEND_BY).attempt == mine


def test_a_claim_that_fails_takes_back_what_may_have_landed_and_sends_nothing(
    journal: tuple[JournalEntry, Stubber],
) -> None:
    claims, stub = journal
    stub.add_client_error("put_item", service_error_code="InternalServerError", expected_params=PUT)
    stub.add_response(
        "delete_item",
        {},
        {
            "TableName": "idempotency",
            "Key": {"id": {"S": "sent#CreateContactFunction#crm-42"}},
            "ConditionExpression": "attempt = :attempt",
            "ExpressionAttributeValues": {":attempt": {"S": ANY}},
        },
    )
    with stub, pytest.raises(IdempotencyStoreUnavailable):
        claims.claim(last_send_by=LAST_SEND_BY)
    stub.assert_no_pending_responses()
