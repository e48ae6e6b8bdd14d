"""POST /contacts/batch: each item validated on its own, the valid ones queued with the message contract."""

from __future__ import annotations

import json

from intercom_contacts import services
from local.aws import LocalAws
from local.intercom_sandbox import IntercomSandbox
from tests.integration.conftest import LEAD, USER, CallApi


def _queued(aws: LocalAws) -> list[dict[str, object]]:
    sqs = aws.client("sqs")
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=aws.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages.extend(batch)
    return messages


def test_valid_items_are_queued_and_invalid_ones_rejected(
    call_api: CallApi, service_env: LocalAws, sandbox: IntercomSandbox
) -> None:
    # Given a batch of three valid contacts and one invalid
    contacts = [USER, LEAD, {**LEAD, "email": "x@example.com"}, {"role": "user", "email": "bad"}]
    # When it is posted with on_conflict=update
    answer = call_api({"contacts": contacts}, path="/contacts/batch", query={"on_conflict": "update"})
    # Then 202, with a result per item in order
    assert answer.status == 202
    assert (answer.body["queued"], answer.body["rejected"], answer.body["failed"]) == (3, 1, 0)
    assert [item["status"] for item in answer.body["items"]] == ["queued", "queued", "queued", "rejected"]
    assert answer.body["items"][3]["fields"][0]["field"] == "email"
    # And the queue holds the three valid bodies with the OnConflict attribute; Intercom saw nothing yet
    messages = _queued(service_env)
    assert sorted(json.loads(m["Body"])["email"] for m in messages) == sorted(
        c["email"] for c in contacts[:3]
    )
    assert {m["MessageAttributes"]["OnConflict"]["StringValue"] for m in messages} == {"update"}
    assert {m["MessageId"] for m in messages} == {i["message_id"] for i in answer.body["items"][:3]}
    assert sandbox.requests == []


def test_each_item_key_is_derived_from_the_batch_key(call_api: CallApi, service_env: LocalAws) -> None:
    call_api({"contacts": [USER, LEAD]}, path="/contacts/batch", headers={"Idempotency-Key": "import-9"})
    keys = sorted(m["MessageAttributes"]["IdempotencyKey"]["StringValue"] for m in _queued(service_env))
    assert keys == ["import-9:0", "import-9:1"]


def test_more_than_1000_items_is_a_422(call_api: CallApi, service_env: LocalAws) -> None:
    answer = call_api({"contacts": [LEAD] * 1001}, path="/contacts/batch")
    assert (answer.status, answer.body["code"]) == (422, "VALIDATION_ERROR")
    assert _queued(service_env) == []


def test_a_batch_of_1000_is_sent_ten_at_a_time(call_api: CallApi, service_env: LocalAws) -> None:
    calls: list[int] = []
    services.sqs_client().meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        lambda params, **_: calls.append(len(params["Entries"])),
    )
    contacts = [{**LEAD, "email": f"l{n}@example.com"} for n in range(1000)]
    answer = call_api({"contacts": contacts}, path="/contacts/batch")
    assert answer.body["queued"] == 1000
    assert calls == [10] * 100


def test_items_sqs_refuses_are_reported_failed_with_a_503(call_api: CallApi, service_env: LocalAws) -> None:
    # Given the queue is gone
    service_env.client("sqs").delete_queue(QueueUrl=service_env.queue_url)
    # When a batch is posted
    answer = call_api({"contacts": [USER, {"role": "user", "email": "bad"}]}, path="/contacts/batch")
    # Then the caller is told to resend the valid item, and the invalid one is still rejected
    assert answer.status == 503
    assert [(i["status"], i.get("code")) for i in answer.body["items"]] == [
        ("failed", "QUEUE_SEND_FAILED"),
        ("rejected", "VALIDATION_ERROR"),
    ]


def test_a_rejected_item_names_the_field_to_fix(call_api: CallApi, service_env: LocalAws) -> None:
    # Given a batch whose items miss an email, send email_verified alone, and hold a NaN
    contacts = [
        {"role": "user"},
        {"role": "user", "external_id": "u-9", "email_verified": True},
        {**LEAD, "custom_attributes": {"seats": float("nan")}},
    ]
    # When it is posted
    answer = call_api({"contacts": contacts}, path="/contacts/batch")
    # Then each rejected item names its own field, as POST /contacts does
    assert [item["message"] for item in answer.body["items"]] == [
        "Invalid fields: email.",
        "Invalid fields: email_verified.",
        "Invalid fields: custom_attributes.",
    ]
    assert _queued(service_env) == []
