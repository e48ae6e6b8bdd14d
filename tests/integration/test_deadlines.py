"""However slow Intercom is, the functions answer before Lambda's timeout: every attempt's timeouts are
cut to the time left, and no attempt starts without time for an answer.

The functions get a context whose remaining time really counts down, as Lambda's does."""

from __future__ import annotations

import json

import pytest

from intercom_contacts.handlers import api, worker
from local.events import api_gateway_event, sqs_event
from local.functions import LocalContext
from local.intercom_sandbox import IntercomSandbox
from tests.integration.conftest import LEAD, USER, WorkerQueues

pytestmark = pytest.mark.slow  # seconds to minutes each: `make test-fast` skips them

TIMEOUT_SECONDS = 5  # the function's timeout, as the template would set it
# The API's: its Intercom work keeps a third for the AWS calls after it, so about 5.3 s for Intercom
API_TIMEOUT_SECONDS = 8


def test_the_api_answers_its_own_504_before_the_function_times_out(
    queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given Intercom answers after 3 s, the first time with a 503
    sandbox.set_latency(3)
    sandbox.fail_next(1, 503)
    context = LocalContext("CreateContactFunction", API_TIMEOUT_SECONDS)
    event = api_gateway_event(
        "POST", "/contacts", body=json.dumps(USER), headers={"Content-Type": "application/json"}
    )
    # When a user is posted to a function with an 8 s timeout (about 5.3 s of it for Intercom)
    answer = api.lambda_handler(event, context)
    # Then the second attempt is cut to the time left: the caller gets the service's own 504, in time
    assert context.get_remaining_time_in_millis() > 0
    assert (answer["statusCode"], json.loads(answer["body"])["code"]) == (504, "INTERCOM_TIMEOUT")


def test_no_attempt_starts_without_time_for_an_answer(queues: WorkerQueues, sandbox: IntercomSandbox) -> None:
    # Given Intercom answers its first request with a 503 after 4.5 s
    sandbox.set_latency(4.5)
    sandbox.fail_next(1, 503)
    context = LocalContext("CreateContactFunction", API_TIMEOUT_SECONDS)
    event = api_gateway_event(
        "POST", "/contacts", body=json.dumps(LEAD), headers={"Content-Type": "application/json"}
    )
    # When a lead is posted
    answer = api.lambda_handler(event, context)
    # Then with under 1 s left of the time for Intercom, no second attempt is made
    assert (answer["statusCode"], json.loads(answer["body"])["code"]) == (502, "INTERCOM_UNAVAILABLE")
    assert [r.json for r in sandbox.requests_to("POST", "/contacts")].count(LEAD) == 1
    assert context.get_remaining_time_in_millis() > 0


def test_the_worker_ends_every_record_before_the_invocation_ends(
    queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given three users queued, and Intercom answering after 2.5 s, first with 503s
    for n in range(3):
        queues.send({**USER, "email": f"slow{n}@example.com", "external_id": f"slow-{n}"})
    sandbox.set_latency(2.5)
    sandbox.fail_next(3, 503)
    messages = queues.receive()
    queue_arn = f"arn:aws:sqs:us-east-1:123456789012:{queues.aws.queue_url.rsplit('/', 1)[1]}"
    context = LocalContext("ContactWorkerFunction", TIMEOUT_SECONDS)
    # When the worker gets them with a 5 s timeout
    answer = worker.lambda_handler(sqs_event(messages, queue_arn=queue_arn), context)
    # Then it returns in time, every record reported for a retry, none dead-lettered
    assert context.get_remaining_time_in_millis() > 0
    assert len(answer["batchItemFailures"]) == 3
    assert queues.dead_letters() == {}
