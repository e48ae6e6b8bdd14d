"""A lead whose outcome is unknown, against the sandbox over HTTP: what the caller sees while it is
looked up, how it ends (created, once), and the send journal keeping apart what is not the same
request (another function's key, another body under the same key)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from intercom_contacts.redrive import Redrive
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import Configure, FakeLambdaContext
from tests.integration.conftest import LEAD, CallApi, WorkerQueues


def _creates(sandbox: IntercomSandbox) -> int:
    return sum(request.path == "/contacts" for request in sandbox.requests_to("POST", "/contacts"))


def _item(call_api: CallApi, batch_id: str) -> dict[str, Any]:
    [item] = call_api(method="GET", path=f"/contacts/batch/{batch_id}").body["items"]
    return dict(item)


def test_a_lead_answered_502_is_unknown_not_sent_again_in_the_request(
    call_api: CallApi, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given Intercom's edge answers a lead's POST 502: Intercom may have created it behind the edge
    sandbox.fail_next(1, 502, method="POST", path_prefix="/contacts")
    lambda_context.remaining_millis = 2500
    # When the lead is posted
    answer = call_api(LEAD, headers={"Idempotency-Key": "lead-502"})
    # Then its outcome is unknown, and it was sent once: a retry in the request could create it twice
    assert (answer.status, answer.body["code"]) == (502, "INTERCOM_OUTCOME_UNKNOWN")
    assert _creates(sandbox) == 1
    # And the caller is told when a retry can decide: once the lookup window has passed
    assert int(answer.headers["Retry-After"]) > 0


@pytest.mark.slow
def test_an_unknown_lead_is_looked_up_then_sent_again_once_search_still_does_not_show_it(
    call_api: CallApi, sandbox: IntercomSandbox, configure: Configure, lambda_context: FakeLambdaContext
) -> None:
    # Given a keyed lead answered 502 without Intercom creating it, and a lookup window of 4 s
    configure(LEAD_LOOKUP_WINDOW_SECONDS="4")
    sandbox.fail_next(1, 502, method="POST", path_prefix="/contacts")
    lambda_context.remaining_millis = 2500
    key = {"Idempotency-Key": "lead-unknown-1"}
    first = call_api(LEAD, headers=key)
    # When the caller retries at once, and again once the window has passed
    soon = call_api(LEAD, headers=key)
    time.sleep(5)
    later = call_api(LEAD, headers=key)
    # Then it stays unknown while search may be behind, without being sent again; after the window
    # it is sent again, once, and created
    assert [first.body["code"], soon.body["code"]] == ["INTERCOM_OUTCOME_UNKNOWN"] * 2
    assert (later.status, later.headers["X-Contact-Outcome"]) == (201, "created")
    assert [later.body["id"]] == list(sandbox.contacts)
    assert _creates(sandbox) == 2


@pytest.mark.slow
def test_a_batch_lead_whose_outcome_is_unknown_stays_pending_until_the_window_ends_then_is_created(
    call_api: CallApi,
    queues: WorkerQueues,
    sandbox: IntercomSandbox,
    configure: Configure,
    lambda_context: FakeLambdaContext,
) -> None:
    # Given a batch of one lead, whose POST Intercom's edge answers 502 without creating it, and a
    # lookup window of 5 s
    configure(LEAD_LOOKUP_WINDOW_SECONDS="5")
    lambda_context.remaining_millis = 2500
    batch_id = call_api({"contacts": [LEAD]}, path="/contacts/batch").body["batch_id"]
    sandbox.fail_next(1, 502, method="POST", path_prefix="/contacts")
    # When the worker receives it
    failed, _ = queues.run_worker()
    # Then it is pending with its reason, and its next receive waits for the window to end
    assert len(failed) == 1
    item = _item(call_api, batch_id)
    assert (item["status"], item["code"]) == ("pending", "INTERCOM_OUTCOME_UNKNOWN")
    assert queues.receive() == []
    # And once it is received again, it is sent again and created, once
    for _ in range(40):
        if queues.run_worker()[1]:
            break
        time.sleep(0.25)
    assert _item(call_api, batch_id)["status"] == "created"
    assert len(sandbox.contacts) == 1
    assert _creates(sandbox) == 2
    assert queues.dead_letters() == {}


@pytest.mark.slow
def test_a_dead_lettered_unknown_lead_is_created_once_when_redriven(
    call_api: CallApi,
    queues: WorkerQueues,
    sandbox: IntercomSandbox,
    configure: Configure,
    lambda_context: FakeLambdaContext,
) -> None:
    # Given a batch lead whose POST Intercom's edge answered 502 on its last allowed receive, so it
    # was dead-lettered as unknown; and a lookup window of 2 s
    configure(LEAD_LOOKUP_WINDOW_SECONDS="2", MAX_RECEIVE_COUNT="1")
    lambda_context.remaining_millis = 2500
    batch_id = call_api({"contacts": [LEAD]}, path="/contacts/batch").body["batch_id"]
    sandbox.fail_next(1, 502, method="POST", path_prefix="/contacts")
    queues.run_worker()
    item = _item(call_api, batch_id)
    assert (item["status"], item["code"]) == ("failed", "INTERCOM_OUTCOME_UNKNOWN")
    # When it is redriven once the window has passed, and the worker takes it
    time.sleep(3)
    Redrive(
        queues.aws.client("sqs"), queues.aws.queue_url, queues.aws.dlq_url, say=lambda _: None
    ).move_reason(None)
    failed, received = queues.run_worker()
    # Then it is sent again and created, once
    assert (len(received), failed) == (1, [])
    assert _item(call_api, batch_id)["status"] == "created"
    assert len(sandbox.contacts) == 1
    assert _creates(sandbox) == 2


def test_a_batch_item_is_not_taken_for_the_api_lead_that_used_its_key(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox, configure: Configure
) -> None:
    # Given the API function created a lead with the key K:0
    configure(AWS_LAMBDA_FUNCTION_NAME="CreateContactFunction")
    assert call_api(LEAD, headers={"Idempotency-Key": "K:0"}).status == 201
    # When a batch of another lead is posted with the key K, and the worker takes its item 0 (K:0)
    other = {**LEAD, "email": "other@example.com", "name": "Other Lead"}
    batch_id = call_api({"contacts": [other]}, path="/contacts/batch", headers={"Idempotency-Key": "K"}).body[
        "batch_id"
    ]
    configure(AWS_LAMBDA_FUNCTION_NAME="ContactWorkerFunction")
    failed, _ = queues.run_worker()
    # Then the item is sent to Intercom and created: the API's send is not this item's
    assert failed == []
    assert _item(call_api, batch_id)["status"] == "created"
    assert sorted(contact["email"] for contact in sandbox.contacts.values()) == [
        "lead@example.com",
        "other@example.com",
    ]


def test_a_key_reused_for_another_lead_after_an_unknown_outcome_is_a_422(
    call_api: CallApi, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given a keyed lead whose answer was lost after Intercom created it, and search does not show it
    sandbox.set_search_lag(60)
    sandbox.drop_next(1, mid_response=True)
    lambda_context.remaining_millis = 2500
    first = call_api(LEAD, headers={"Idempotency-Key": "signup-7"})
    # When the same key is posted with another lead
    other = call_api({**LEAD, "email": "someone@example.com"}, headers={"Idempotency-Key": "signup-7"})
    # Then the key is reused (the caller's mistake), and the other lead is not taken for sent
    assert first.body["code"] == "INTERCOM_OUTCOME_UNKNOWN"
    assert (other.status, other.body["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert _creates(sandbox) == 1
