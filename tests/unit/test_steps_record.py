"""The record of a request's done steps (companies attached, tags applied) that its retry reads, in the
idempotency table (moto): only this body's and this contact's record counts, and a store that fails
costs repeated steps, never the request."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from intercom_contacts.logic.contact_steps import StepsDone
from intercom_contacts.models.contact import ContactRequest
from intercom_contacts.sends import SendJournal
from local.aws import LocalAws

BODY = {"role": "lead", "email": "l@example.com", "tags": ["VIP", "Beta"]}
DONE = {"companies": [], "tags": [{"id": "7", "name": "vip"}]}


@pytest.fixture
def journal(local_aws: LocalAws) -> SendJournal:
    dynamodb = local_aws.client("dynamodb")
    return SendJournal(dynamodb, local_aws.table_name, function="ProcessContactsFunction", ttl_seconds=60)


def test_the_record_of_this_body_and_contact_is_what_its_retry_reads(journal: SendJournal) -> None:
    # Given an attempt that recorded one tag done for contact c1
    journal.steps("crm-42", BODY).save("c1", DONE)
    # When the retry of the same body under the same key reads it for the same contact
    # Then it gets what was recorded
    assert journal.steps("crm-42", BODY).load("c1") == DONE


@pytest.mark.parametrize(
    ("key", "body", "contact_id"),
    [("crm-42", {**BODY, "tags": ["VIP"]}, "c1"), ("crm-42", BODY, "c2"), ("crm-43", BODY, "c1")],
    ids=["another body under the key", "another contact", "another key"],
)
def test_a_record_of_another_body_contact_or_key_is_not_this_ones(
    journal: SendJournal, key: str, body: dict[str, object], contact_id: str
) -> None:
    # Given a record written for BODY and contact c1 under crm-42
    journal.steps("crm-42", BODY).save("c1", DONE)
    # When a request with another body, for another contact, or under another key reads
    # Then nothing counts as done
    assert journal.steps(key, body).load(contact_id) is None


def test_a_store_that_fails_costs_repeats_not_the_request() -> None:
    # Given DynamoDB failing every call
    dynamodb = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    record = SendJournal(dynamodb, "idempotency", function="F", ttl_seconds=60).steps("crm-42", BODY)
    stub = Stubber(dynamodb)
    stub.add_client_error("put_item", "ProvisionedThroughputExceededException")
    stub.add_client_error("get_item", "InternalServerError")
    # When the steps are recorded, then read
    with stub:
        record.save("c1", DONE)
        loaded = record.load("c1")
    # Then neither raises, and the retry finds nothing done (so it repeats every step)
    assert loaded is None
    stub.assert_no_pending_responses()


def test_done_steps_answer_in_the_request_order_and_survive_the_record() -> None:
    # Given steps done in another order than the request names them
    request = ContactRequest.model_validate(
        {**BODY, "companies": [{"company_id": "b"}, {"company_id": "a"}], "tags": ["Beta", "VIP"]}
    )
    done = StepsDone.from_json(
        {
            "companies": [{"id": "1", "company_id": "a"}, {"id": "2", "company_id": "b"}],
            "tags": [{"id": "7", "name": "vip"}, {"id": "8", "name": "Beta"}],
        }
    )
    # Then the answer lists them in the request's order, tags matched in any case and named as in Intercom
    assert done.answer(request) == {
        "companies": [{"id": "2", "company_id": "b"}, {"id": "1", "company_id": "a"}],
        "tags": [{"id": "8", "name": "Beta"}, {"id": "7", "name": "vip"}],
    }
    # And what is recorded reads back the same
    assert StepsDone.from_json(done.to_json()) == done
