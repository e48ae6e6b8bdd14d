"""The SQS path end to end: real messages in moto's queues, the worker in-process, the sandbox over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from intercom_contacts.errors import IntercomUnavailable
from intercom_contacts.handlers import worker
from intercom_contacts.redrive import Redrive
from local.aws import LocalAws
from local.events import sqs_event
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import FakeLambdaContext
from tests.integration.conftest import LEAD, USER


@pytest.fixture
def queues(service_env: LocalAws, monkeypatch: pytest.MonkeyPatch) -> LocalAws:
    monkeypatch.setenv("RETRY_BASE_SECONDS", "0")
    worker.get_settings.cache_clear()
    worker.worker.cache_clear()
    return service_env


def _send(aws: LocalAws, body: Any, **attributes: str) -> str:
    message_body = body if isinstance(body, str) else json.dumps(body)
    answer = aws.client("sqs").send_message(
        QueueUrl=aws.queue_url,
        MessageBody=message_body,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
    return str(answer["MessageId"])


def _receive(aws: LocalAws, url: str | None = None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while (
        batch := aws.client("sqs")
        .receive_message(
            QueueUrl=url or aws.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=30,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        .get("Messages", [])
    ):
        messages.extend(batch)
    return messages


def _run_worker(aws: LocalAws, context: FakeLambdaContext) -> tuple[list[str], dict[str, Any]]:
    """One event-source-mapping turn: receive, invoke, delete what was not reported as failed."""
    messages = _receive(aws)
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    answer = worker.lambda_handler(sqs_event(messages, queue_arn=queue_arn), context)
    failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            aws.client("sqs").delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(failed), {m["MessageId"]: m for m in messages}


def _dead_letters(aws: LocalAws) -> dict[str, dict[str, Any]]:
    return {
        m["Body"]: {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
        for m in _receive(aws, aws.dlq_url)
    }


def test_a_batch_reports_only_the_transient_failure_and_dead_letters_the_invalid(
    queues: LocalAws,
    sandbox: IntercomSandbox,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 10 messages: 7 valid leads, one body that is not JSON, one invalid email, and one more lead
    monkeypatch.setenv("INTERCOM_MAX_ATTEMPTS", "1")
    worker.get_settings.cache_clear()
    worker.intercom_client.cache_clear()
    worker.worker.cache_clear()
    for n in range(8):
        _send(queues, {**LEAD, "email": f"lead{n}@example.com"}, OnConflict="return")
    _send(queues, "{not json")
    _send(queues, {"role": "lead", "email": "not-an-email"})
    # And Intercom answers one request with 503
    sandbox.fail_next(1, 503)
    # When the worker gets the batch
    failed, messages = _run_worker(queues, lambda_context)
    # Then exactly the record that met the 503 is reported, and the other 7 leads exist
    assert len(failed) == 1
    created = {c["email"] for c in sandbox.contacts.values()}
    assert len(created) == 7
    assert json.loads(messages[failed[0]]["Body"])["email"] not in created
    # And the invalid ones are in the DLQ with their error codes, gone from the source queue
    dead = _dead_letters(queues)
    assert dead["{not json"]["ErrorCode"] == "INVALID_JSON"
    invalid = dead[json.dumps({"role": "lead", "email": "not-an-email"})]
    assert invalid["ErrorCode"] == "VALIDATION_ERROR"
    assert "email" in invalid["ErrorMessage"]
    assert invalid["FailedAt"]


def test_the_original_attributes_travel_to_the_dlq(
    queues: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    sandbox.seed_contact(**USER)
    _send(queues, USER, OnConflict="fail", IdempotencyKey="crm-7")
    failed, _ = _run_worker(queues, lambda_context)
    assert failed == []
    [attributes] = _dead_letters(queues).values()
    assert attributes["OnConflict"] == "fail"
    assert attributes["IdempotencyKey"] == "crm-7"
    assert attributes["ErrorCode"] == "CONTACT_EXISTS"


def test_a_failing_message_ends_in_the_dlq_after_five_receives(
    queues: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given Intercom is down
    sandbox.fail_next(1000, 503)
    _send(queues, LEAD)
    # When the worker receives the message five times
    reports = [_run_worker(queues, lambda_context)[0] for _ in range(5)]
    # Then it was retried four times and dead-lettered with the reason on the fifth
    assert [len(r) for r in reports] == [1, 1, 1, 1, 0]
    assert _receive(queues) == []
    [attributes] = _dead_letters(queues).values()
    assert attributes["ErrorCode"] == "INTERCOM_UNAVAILABLE"


def test_a_retry_waits_longer_each_time(
    queues: LocalAws,
    sandbox: IntercomSandbox,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a 1 s backoff base and Intercom down
    monkeypatch.setenv("RETRY_BASE_SECONDS", "1")
    worker.get_settings.cache_clear()
    worker.worker.cache_clear()
    sandbox.fail_next(1000, 503)
    _send(queues, LEAD)
    # When the worker fails the message
    _run_worker(queues, lambda_context)
    # Then it is not received again at once (its visibility was set to the backoff)
    assert _receive(queues) == []
    outage = IntercomUnavailable("down")
    assert [worker.worker().backoff_seconds(n, outage) for n in (1, 2, 3, 4)] == [1, 4, 16, 64]


def test_the_same_message_delivered_twice_creates_one_contact(
    queues: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given the same lead sent twice (SQS delivers at least once; leads are not deduplicated by Intercom)
    _send(queues, LEAD)
    _send(queues, LEAD)
    # When the worker handles both, in one batch and then again in another
    _run_worker(queues, lambda_context)
    _send(queues, LEAD)
    _run_worker(queues, lambda_context)
    # Then Intercom was asked once
    assert len(sandbox.requests_to("POST", "/contacts")) == 1
    assert len(sandbox.contacts) == 1


def test_an_empty_batch_and_an_all_failed_batch_are_not_crashes(
    queues: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    assert worker.lambda_handler({"Records": []}, lambda_context) == {"batchItemFailures": []}
    sandbox.fail_next(1000, 503)
    _send(queues, LEAD)
    _send(queues, {**LEAD, "email": "other@example.com"})
    failed, _ = _run_worker(queues, lambda_context)
    assert len(failed) == 2


def test_selective_redrive_moves_only_the_chosen_reason_and_they_then_succeed(
    queues: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given one message dead-lettered for an outage and one for invalid JSON
    sandbox.fail_next(1000, 503)
    _send(queues, LEAD)
    _send(queues, "{broken")
    for _ in range(5):
        _run_worker(queues, lambda_context)
    sqs = queues.client("sqs")
    redrive = Redrive(sqs, queues.queue_url, queues.dlq_url, say=lambda _: None)
    assert redrive.list_reasons() == {"INTERCOM_UNAVAILABLE": 1, "INVALID_JSON": 1}
    # When the outage is over and only INTERCOM_UNAVAILABLE is redriven
    sandbox.clear_faults()
    assert redrive.move_reason("INTERCOM_UNAVAILABLE", dry_run=True) == 1
    assert redrive.move_reason("INTERCOM_UNAVAILABLE") == 1
    # Then it is created, and the invalid one is still in the DLQ
    assert _run_worker(queues, lambda_context)[0] == []
    assert [c["email"] for c in sandbox.contacts.values()] == [LEAD["email"]]
    assert [a["ErrorCode"] for a in _dead_letters(queues).values()] == ["INVALID_JSON"]


def test_a_batch_under_429s_ends_with_every_record_created_or_reported(
    queues: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given Intercom allows 4 calls per 30 s window and 10 messages arrive
    sandbox.set_rate_limit(4, window_seconds=30.0)
    lambda_context.remaining_millis = 3000
    bodies = {f"l{n}@example.com": _send(queues, {**LEAD, "email": f"l{n}@example.com"}) for n in range(10)}
    # When the worker handles the batch
    failed, _ = _run_worker(queues, lambda_context)
    # Then every record is either created or reported for retry; none is lost or dead-lettered
    created = {c["email"] for c in sandbox.contacts.values()}
    assert len(created) + len(failed) == 10
    assert 4 <= len(created) <= 8  # 4 a window; the batch may straddle two windows
    assert {bodies[email] for email in created}.isdisjoint(failed)
    assert _dead_letters(queues) == {}
