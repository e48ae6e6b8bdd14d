"""The send journal's claim, when DynamoDB's answers are the tricky ones (botocore's Stubber)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from intercom_contacts.errors import IdempotencyStoreUnavailable
from intercom_contacts.sends import SendJournal

PUT = {
    "TableName": "idempotency",
    "Item": ANY,
    "ConditionExpression": "attribute_not_exists(id)",
    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
}


@pytest.fixture
def journal() -> tuple[SendJournal, Stubber]:
    dynamodb = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return SendJournal(dynamodb, "idempotency", ttl_seconds=60), Stubber(dynamodb)


def _refused(item: dict[str, Any]) -> dict[str, Any]:
    return {"service_error_code": "ConditionalCheckFailedException", "modeled_fields": {"Item": item}}


def test_a_first_claim_says_nothing_was_sent_before(journal: tuple[SendJournal, Stubber]) -> None:
    claims, stub = journal
    stub.add_response("put_item", {}, PUT)
    with stub:
        assert claims.claim("crm-42") is None


def test_a_claim_another_attempt_made_says_when_it_sent(journal: tuple[SendJournal, Stubber]) -> None:
    claims, stub = journal
    stub.add_client_error(
        "put_item",
        **_refused({"id": {"S": "sent#crm-42"}, "sent_at": {"N": "1800000000.5"}, "attempt": {"S": "other"}}),
        expected_params=PUT,
    )
    with stub:
        assert claims.claim("crm-42") == 1_800_000_000.5


def test_a_claim_refused_because_botocore_sent_it_twice_is_still_the_first(
    journal: tuple[SendJournal, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the claim's first try timed out but was applied, and botocore's retry met it
    claims, stub = journal
    monkeypatch.setattr("uuid.uuid4", lambda: uuid.UUID(int=7))
    mine = uuid.UUID(int=7).hex
    stub.add_client_error(
        "put_item",
        **_refused({"id": {"S": "sent#crm-42"}, "sent_at": {"N": "1800000000.5"}, "attempt": {"S": mine}}),
        expected_params=PUT,
    )
    # When the claim reads the item it finds
    with stub:
        # Then it knows the item is its own: nothing was sent before
        assert claims.claim("crm-42") is None


def test_a_claim_that_fails_takes_back_what_may_have_landed_and_sends_nothing(
    journal: tuple[SendJournal, Stubber],
) -> None:
    claims, stub = journal
    stub.add_client_error("put_item", service_error_code="InternalServerError", expected_params=PUT)
    stub.add_response(
        "delete_item",
        {},
        {
            "TableName": "idempotency",
            "Key": {"id": {"S": "sent#crm-42"}},
            "ConditionExpression": "attempt = :attempt",
            "ExpressionAttributeValues": {":attempt": {"S": ANY}},
        },
    )
    with stub, pytest.raises(IdempotencyStoreUnavailable):
        claims.claim("crm-42")
    stub.assert_no_pending_responses()
