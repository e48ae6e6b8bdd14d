"""The files in events/ are real events: each gives the answer its name promises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intercom_contacts.handlers import api, worker
from local.aws import LocalAws
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("api_create_user.json", 201),
        ("api_create_lead.json", 201),
        ("api_invalid_body.json", 422),
        ("api_batch.json", 202),
    ],
)
def test_api_events_answer_as_named(
    service_env: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext, name: str, status: int
) -> None:
    assert api.lambda_handler(_event(name), lambda_context)["statusCode"] == status


@pytest.mark.parametrize(
    ("name", "status", "outcome"),
    [
        ("api_duplicate_return.json", 200, "existing"),
        ("api_duplicate_update.json", 200, "updated"),
        ("api_duplicate_fail.json", 409, None),
    ],
)
def test_duplicate_events_follow_their_on_conflict(
    service_env: LocalAws,
    sandbox: IntercomSandbox,
    lambda_context: FakeLambdaContext,
    name: str,
    status: int,
    outcome: str | None,
) -> None:
    api.lambda_handler(_event("api_create_user.json"), lambda_context)
    answer = api.lambda_handler(_event(name), lambda_context)
    assert answer["statusCode"] == status
    assert (answer["multiValueHeaders"].get("X-Contact-Outcome") or [None])[0] == outcome


@pytest.mark.parametrize(("name", "status"), [("api_batch_run_log.json", 200), ("api_batch_retry.json", 202)])
def test_the_batch_events_read_and_retry_the_batch_api_batch_json_queued(
    service_env: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext, name: str, status: int
) -> None:
    # api_batch.json is sent with Idempotency-Key walkthrough-1; these name the batch that key gives
    queued = json.loads(api.lambda_handler(_event("api_batch.json"), lambda_context)["body"])
    answer = api.lambda_handler(_event(name), lambda_context)
    assert answer["statusCode"] == status
    if name == "api_batch_run_log.json":
        assert json.loads(answer["body"])["batch_id"] == queued["batch_id"]


def test_the_poison_batch_dead_letters_the_bad_records_and_creates_the_good(
    service_env: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    answer = worker.lambda_handler(_event("sqs_batch_with_poison.json"), lambda_context)
    assert answer == {"batchItemFailures": []}
    assert [c["email"] for c in sandbox.contacts.values()] == ["ok@example.com"]
    dead = service_env.client("sqs").receive_message(
        QueueUrl=service_env.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    codes = sorted(m["MessageAttributes"]["ErrorCode"]["StringValue"] for m in dead)
    assert codes == ["INVALID_ATTRIBUTE", "INVALID_JSON", "VALIDATION_ERROR"]


def test_the_sqs_batch_creates_every_contact(
    service_env: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    assert worker.lambda_handler(_event("sqs_batch.json"), lambda_context) == {"batchItemFailures": []}
    assert len(sandbox.contacts) == 3
