"""A function that dies after Intercom created the contact but before the outcome was recorded, or
before the contact was sent at all.

The process is killed while Intercom's answer is on its way (the sandbox holds the answer back after
creating the contact). Its idempotency record stays in progress until the invocation's timeout; the
next attempt then finds the send journal's entry: a lead is looked up, not sent again while search
may be behind, and a user sent again is recognised as this request's own creation. A process killed
before its request left (waiting for its rate-limit turn) wrote no entry: the next attempt sends it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from local.events import api_gateway_event, sqs_event
from local.intercom_sandbox import IntercomSandbox
from tests.integration.conftest import LEAD, USER, CallApi, WorkerQueues

pytestmark = pytest.mark.slow  # seconds to minutes each: `make test-fast` skips them

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 3  # the killed invocation's timeout: its in-progress record expires with it
WAITING_TIMEOUT_SECONDS = 4  # long enough for a 1.5 s wait for a turn that leaves 1 s for an answer


def _kill_once_created(handler: str, function: str, event: dict[str, Any], sandbox: IntercomSandbox) -> None:
    """Run one invocation in its own process and kill -9 it as soon as Intercom holds the contact."""
    sandbox.delay_next(1, 30, after_handling=True)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.one_invocation", handler, function, str(TIMEOUT_SECONDS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}"},
    )
    assert child.stdin is not None
    child.stdin.write(json.dumps(event).encode())
    child.stdin.close()
    started = time.monotonic()
    try:
        while not sandbox.contacts:
            assert child.poll() is None, "the invocation ended before Intercom created the contact"
            assert time.monotonic() - started < 20, "Intercom never received the contact"
            time.sleep(0.02)
        created = time.monotonic()  # the invocation started before this: its record expires by
    finally:
        child.kill()
        child.wait()
    time.sleep(max(0.0, created + TIMEOUT_SECONDS + 0.5 - time.monotonic()))


def _creates(sandbox: IntercomSandbox) -> int:
    return sum(request.path == "/contacts" for request in sandbox.requests_to("POST", "/contacts"))


def _api_event(body: dict[str, Any], key: str, on_conflict: str) -> dict[str, Any]:
    return api_gateway_event(
        "POST",
        "/contacts",
        body=json.dumps(body),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        query={"on_conflict": on_conflict},
    )


def test_a_lead_whose_api_invocation_died_is_found_not_sent_again(
    queues: WorkerQueues, call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given the API function died after Intercom created a keyed lead
    event = _api_event(LEAD, "lead-crash-1", "return")
    _kill_once_created(
        "intercom_contacts.handlers.api.lambda_handler", "CreateContactFunction", event, sandbox
    )
    # When the caller retries with the same key
    answer = call_api(LEAD, headers={"Idempotency-Key": "lead-crash-1"})
    # Then it gets the lead the first attempt created, and Intercom was asked to create it once
    assert (answer.status, answer.headers["X-Contact-Outcome"]) == (201, "created")
    assert [answer.body["id"]] == list(sandbox.contacts)
    assert _creates(sandbox) == 1


def test_a_user_whose_api_invocation_died_is_answered_as_created(
    queues: WorkerQueues, call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given the API function died after Intercom created a keyed user, asked with on_conflict=fail
    event = _api_event(USER, "user-crash-1", "fail")
    _kill_once_created(
        "intercom_contacts.handlers.api.lambda_handler", "CreateContactFunction", event, sandbox
    )
    # When the caller retries with the same key
    answer = call_api(USER, headers={"Idempotency-Key": "user-crash-1"}, query={"on_conflict": "fail"})
    # Then the 409 it meets is its own creation: 201, not CONTACT_EXISTS
    assert (answer.status, answer.headers["X-Contact-Outcome"]) == (201, "created")
    assert [answer.body["id"]] == list(sandbox.contacts)


@pytest.mark.parametrize(
    ("body", "creates"),
    [(LEAD, 1), (USER, 2)],  # a lead is looked up; a user is sent again and meets the 409
    ids=["lead", "user"],
)
def test_a_record_whose_worker_died_is_created_once(
    queues: WorkerQueues, sandbox: IntercomSandbox, body: dict[str, Any], creates: int
) -> None:
    # Given the worker died after Intercom created the contact of a message that says OnConflict=fail
    queues.send(body, OnConflict="fail")
    messages = queues.receive(visibility=1)
    event = sqs_event(messages, queue_arn="arn:aws:sqs:us-east-1:123456789012:contacts")
    _kill_once_created(
        "intercom_contacts.handlers.worker.lambda_handler", "ContactWorkerFunction", event, sandbox
    )
    # When SQS delivers the message again
    failed, _ = queues.run_worker()
    # Then the contact exists once, and it is this message's creation, not a CONTACT_EXISTS failure
    assert failed == []
    assert len(sandbox.contacts) == 1
    assert _creates(sandbox) == creates
    assert queues.dead_letters() == {}


def test_a_lead_whose_api_invocation_died_waiting_for_its_turn_is_sent_on_retry(
    queues: WorkerQueues, call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given the API function died while a keyed lead waited for its rate-limit turn, before it left
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.waiting_api", str(WAITING_TIMEOUT_SECONDS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}"},
    )
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write(json.dumps(_api_event(LEAD, "lead-crash-3", "return")).encode())
    child.stdin.close()
    try:
        assert child.stdout.readline().strip() == b"waiting for a turn"
        waiting = time.monotonic()  # the invocation started before this: its record expires by
    finally:
        child.kill()
        child.wait()
    time.sleep(max(0.0, waiting + WAITING_TIMEOUT_SECONDS + 0.5 - time.monotonic()))
    # When the caller retries with the same key
    answer = call_api(LEAD, headers={"Idempotency-Key": "lead-crash-3"})
    # Then the lead is sent and created, once: it was never sent before
    assert (answer.status, answer.headers["X-Contact-Outcome"]) == (201, "created")
    assert [answer.body["id"]] == list(sandbox.contacts)
    assert _creates(sandbox) == 1


def test_a_lead_search_does_not_show_yet_stays_unknown_and_is_never_resent(
    queues: WorkerQueues, call_api: CallApi, sandbox: IntercomSandbox, lambda_context: Any
) -> None:
    # Given the API function died after Intercom created a keyed lead, and search lags by a minute
    sandbox.set_search_lag(60)
    event = _api_event(LEAD, "lead-crash-2", "return")
    _kill_once_created(
        "intercom_contacts.handlers.api.lambda_handler", "CreateContactFunction", event, sandbox
    )
    # When the caller retries with the same key, with 4 s left to answer, within the lookup window
    lambda_context.remaining_millis = 4000
    answer = call_api(LEAD, headers={"Idempotency-Key": "lead-crash-2"})
    # Then the outcome is unknown (retry later; it looks again) and the lead was not sent again
    assert (answer.status, answer.body["code"]) == (502, "INTERCOM_OUTCOME_UNKNOWN")
    assert _creates(sandbox) == 1
