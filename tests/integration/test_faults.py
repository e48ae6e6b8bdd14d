"""Faults on every dependency: the API answers a clear code, the SQS path loses nothing and creates
nothing twice. Real servers throughout (moto, the sandbox); faults are injected into them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.functions import LocalFunction
from local.intercom_sandbox import IntercomSandbox
from local.poller import Poller
from tests.conftest import TOKEN, Configure
from tests.integration.conftest import LEAD, USER, CallApi, WorkerQueues


@pytest.fixture
def fast_retries(queues: WorkerQueues, configure: Configure) -> WorkerQueues:
    configure(RETRY_BASE_SECONDS="0", AWS_MAX_ATTEMPTS="1")
    return queues


def test_secrets_manager_down_is_a_503_and_a_retry(
    fast_retries: WorkerQueues,
    call_api: CallApi,
    sandbox: IntercomSandbox,
    configure: Configure,
) -> None:
    # Given Secrets Manager cannot be reached (a closed port)
    configure(AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:9")
    # Then the API answers 503 TOKEN_UNAVAILABLE and the worker keeps the message for a retry
    answer = call_api(USER)
    assert (answer.status, answer.body["code"]) == (503, "TOKEN_UNAVAILABLE")
    fast_retries.send(LEAD)
    failed, _ = fast_retries.run_worker()
    assert len(failed) == 1
    assert sandbox.requests == []


def test_the_idempotency_table_down_is_a_503_and_intercom_is_not_called(
    fast_retries: WorkerQueues, call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given the idempotency table is gone
    fast_retries.aws.client("dynamodb").delete_table(TableName=fast_retries.aws.table_name)
    # Then a keyed request answers 503 without calling Intercom, and queued messages are kept for later
    answer = call_api(LEAD, headers={"Idempotency-Key": "k-1"})
    assert (answer.status, answer.body["code"]) == (503, "IDEMPOTENCY_STORE_UNAVAILABLE")
    fast_retries.send(LEAD)
    failed, _ = fast_retries.run_worker()
    assert len(failed) == 1
    assert sandbox.requests == []


def test_a_failing_dlq_send_keeps_the_message_in_the_source_queue(
    fast_retries: WorkerQueues, configure: Configure
) -> None:
    # Given the DLQ cannot be written to
    configure(CONTACTS_DLQ_URL=fast_retries.aws.dlq_url + "-gone")
    fast_retries.send("{not json")
    # When the worker meets an invalid message
    failed, _ = fast_retries.run_worker()
    # Then it is reported as failed, so SQS keeps it (and redrives it after five receives)
    assert len(failed) == 1


def test_a_failing_visibility_change_still_reports_the_record(
    fast_retries: WorkerQueues,
    sandbox: IntercomSandbox,
    configure: Configure,
) -> None:
    # Given ChangeMessageVisibility fails (the worker's view of the queue is wrong) and Intercom is down
    configure(CONTACTS_QUEUE_URL=fast_retries.aws.queue_url + "-gone")
    sandbox.fail_next(10, 503)
    fast_retries.send(LEAD)
    # Then the record is still reported for retry; the queue's own visibility timeout brings it back
    failed, _ = fast_retries.run_worker()
    assert len(failed) == 1


def test_a_worker_crash_mid_batch_loses_nothing_and_duplicates_nothing(
    fast_retries: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given 6 leads queued, and a worker that dies after handling half of a batch
    sqs = fast_retries.aws.client("sqs")
    sqs.set_queue_attributes(QueueUrl=fast_retries.aws.queue_url, Attributes={"VisibilityTimeout": "1"})
    emails = [f"crash{n}@example.com" for n in range(6)]
    for email in emails:
        fast_retries.send({**LEAD, "email": email})
    crashing = LocalFunction(
        "ContactWorkerFunction", "tests.integration.crashing_worker.lambda_handler", 60, 256, {}
    )
    real = LocalFunction(
        "ContactWorkerFunction", "intercom_contacts.handlers.worker.lambda_handler", 60, 256, {}
    )
    # When the crashing worker gets the batch, then the real one after the visibility timeout
    assert Poller(crashing, fast_retries.aws.queue_url, 10, sqs).poll_once() == 6
    time.sleep(1.5)
    Poller(real, fast_retries.aws.queue_url, 10, sqs).poll_once()
    # Then every lead exists exactly once: the half done before the crash was replayed, not re-created
    created = sorted(c["email"] for c in sandbox.contacts.values())
    assert created == sorted(emails)
    assert fast_retries.receive() == []


def test_mixed_faults_end_every_message_created_once(
    fast_retries: WorkerQueues, sandbox: IntercomSandbox, configure: Configure, lambda_context: Any
) -> None:
    # Given 20 contacts, users and leads, and Intercom failing a third of the calls, dropping some and
    # rate limiting in bursts; a lead answered 502 is looked up again after a 1 s lookup window (each
    # invocation has 5 s)
    configure(LEAD_LOOKUP_WINDOW_SECONDS="1")
    lambda_context.remaining_millis = 5000
    sandbox.set_failure_rate(0.33, status=502, seed=7)
    sandbox.set_rate_limit(8, window_seconds=1.0)
    sandbox.drop_next(2)
    bodies = [
        {**(USER if n % 2 else LEAD), "email": f"mix{n}@example.com", "external_id": f"x{n}"}
        for n in range(20)
    ]
    for body in bodies:
        if body["role"] == "lead":
            body.pop("external_id")
        fast_retries.send(body)
    # When the worker runs until the queue is empty (each message has five receives)
    sqs = fast_retries.aws.client("sqs")
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fast_retries.run_worker()
        left = sqs.get_queue_attributes(QueueUrl=fast_retries.aws.queue_url, AttributeNames=counts)[
            "Attributes"
        ]
        if all(left[name] == "0" for name in counts):
            break
        time.sleep(0.2)
    # Then every contact is in Intercom exactly once, or in the DLQ with its reason; none lost. A lead
    # whose answer was lost can be in both: created, and parked as OUTCOME_UNKNOWN for a person to check.
    created = [c["email"] for c in sandbox.contacts.values()]
    dead = {
        json.loads(body)["email"]: attrs["ErrorCode"] for body, attrs in fast_retries.dead_letters().items()
    }
    assert len(created) == len(set(created))
    assert set(created) | set(dead) == {b["email"] for b in bodies}
    assert {dead[email] for email in set(created) & set(dead)} <= {"INTERCOM_OUTCOME_UNKNOWN"}
    assert all(code.startswith("INTERCOM_") for code in dead.values())


def test_faults_never_leak_the_token_into_answers(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    answers: list[Any] = []
    sandbox.fail_next(5, 500)
    answers.append(call_api(USER))
    sandbox.rotate_token("other")
    answers.append(call_api(LEAD))
    sandbox.drop_next(1, mid_response=True)
    answers.append(call_api(LEAD))
    for answer in answers:
        text = json.dumps(answer.body) + json.dumps(answer.headers)
        assert TOKEN not in text
        assert TOKEN[:12] not in text
