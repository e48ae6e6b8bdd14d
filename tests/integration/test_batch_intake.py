"""POST /contacts/batch with an Idempotency-Key: the key is bound to its body, every body the service can
answer can be stored, and a resend never mixes two bodies in one run log. Real moto and sandbox."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.aws import LocalAws
from local.intercom_sandbox import IntercomSandbox
from tests.integration.conftest import LEAD, ApiAnswer, CallApi, WorkerQueues


def _post(call_api: CallApi, body: Any, key: str) -> ApiAnswer:
    raw = isinstance(body, str)
    return call_api(body, path="/contacts/batch", headers={"Idempotency-Key": key}, raw=raw)


def _queued_emails(queues: WorkerQueues) -> list[str]:
    return sorted(json.loads(message["Body"])["email"] for message in queues.receive())


@pytest.mark.parametrize(
    "bad_item",
    [
        '{"role":"lead","email":"b@x.com","signed_up_at":1e400}',
        '{"role":"lead","email":"b@x.com","custom_attributes":{"seats":NaN}}',
    ],
)
def test_a_keyed_batch_with_an_unstorable_number_rejects_only_that_item(
    call_api: CallApi, queues: WorkerQueues, bad_item: str
) -> None:
    # Given a batch whose second item holds a number Intercom cannot store, sent with a key
    body = '{"contacts":[{"role":"lead","email":"a@x.com"},' + bad_item + "]}"
    # When it is posted, and posted again with the same key
    first = _post(call_api, body, "k1")
    again = _post(call_api, body, "k1")
    # Then the good item is queued once and the bad one rejected, the repeat answering the same
    assert first.status == 202, first.body
    assert [item["status"] for item in first.body["items"]] == ["queued", "rejected"]
    assert again.body == first.body
    assert _queued_emails(queues) == ["a@x.com"]


def test_a_different_body_with_the_key_of_a_503_batch_is_refused(
    call_api: CallApi, queues: WorkerQueues, service_env: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batch of two leads answered 503 because SQS refused them (such an answer is not stored)
    from intercom_contacts import queues as queue_io

    real = queue_io.send_batch
    refusals = iter([True])

    def refuse_once(sqs: Any, url: str, messages: Any) -> Any:
        if next(refusals, False):
            return [queue_io.SendResult(None, "ServiceUnavailable") for _ in messages]
        return real(sqs, url, messages)

    monkeypatch.setattr(queue_io, "send_batch", refuse_once)
    first_body = {"contacts": [{**LEAD, "email": "a0@x.com"}, {**LEAD, "email": "a1@x.com"}]}
    first = _post(call_api, first_body, "k2")
    assert first.status == 503
    # When another body of four leads is posted with the same key
    other_body = {"contacts": [{**LEAD, "email": f"b{n}@x.com"} for n in range(4)]}
    other = _post(call_api, other_body, "k2")
    # Then it is refused, nothing is queued, and the first batch's run log still holds its two items
    assert (other.status, other.body["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert _queued_emails(queues) == []
    log = call_api(method="GET", path=f"/contacts/batch/{first.body['batch_id']}").body
    assert (log["counts"]["total"], len(log["items"]), log["counts"]["failed"]) == (2, 2, 2)
    # And the first body sent again queues its own two leads
    assert _post(call_api, first_body, "k2").status == 202
    assert _queued_emails(queues) == ["a0@x.com", "a1@x.com"]


@pytest.mark.slow
def test_a_keyed_batch_whose_answer_is_large_is_stored_and_answered_again(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given 1,000 items: 300 valid leads and 700 with a few unknown fields each
    unknown = {f"unknown_field_with_a_long_name_{n}": n for n in range(4)}
    contacts = [
        {**LEAD, "email": f"big{n}@x.com"} if n % 10 < 3 else {**LEAD, **unknown} for n in range(1000)
    ]
    # When the batch is posted with a key, then posted again with the same key
    first = _post(call_api, {"contacts": contacts}, "k3")
    again = _post(call_api, {"contacts": contacts}, "k3")
    # Then both answers are the same 202: 300 queued once, 700 rejected naming their fields
    assert first.status == 202, first.body.get("code")
    assert (first.body["queued"], first.body["rejected"]) == (300, 700)
    assert again.status == 202
    assert again.body == first.body
    assert len(queues.receive()) == 300
    assert [f["field"] for f in first.body["items"][3]["fields"]] == [
        f"unknown_field_with_a_long_name_{n}" for n in range(4)
    ]


def test_the_openapi_document_declares_both_bodies_a_batch_503_can_have(call_api: CallApi) -> None:
    # Given the API's own OpenAPI document
    from intercom_contacts.handlers import api

    document = json.loads(api.app.get_openapi_json_schema())
    # When its POST /contacts/batch 503 is read
    declared = document["paths"]["/contacts/batch"]["post"]["responses"]["503"]
    schema = declared["content"]["application/json"]["schema"]
    # Then it allows the refused items' BatchResponse and the ErrorResponse of a failed dependency
    assert {option["$ref"] for option in schema["anyOf"]} == {
        "#/components/schemas/BatchResponse",
        "#/components/schemas/ErrorResponse",
    }


def test_a_batch_whose_answer_cannot_be_stored_is_still_answered_with_its_items(
    call_api: CallApi, queues: WorkerQueues, service_env: LocalAws
) -> None:
    # Given the idempotency table refuses the write that stores an answer (Powertools' UpdateItem)
    from botocore.exceptions import ClientError

    from intercom_contacts import services

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == service_env.table_name:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "UpdateItem")

    services.dynamodb_client().meta.events.register("before-parameter-build.dynamodb.UpdateItem", refuse)
    # When a keyed batch of two leads is posted
    answer = _post(call_api, {"contacts": [{**LEAD, "email": f"s{n}@x.com"} for n in range(2)]}, "k4")
    # Then the caller learns what was queued: it was, and nothing claims otherwise
    assert answer.status == 202, answer.body
    assert answer.body["queued"] == 2
    assert _queued_emails(queues) == ["s0@x.com", "s1@x.com"]
