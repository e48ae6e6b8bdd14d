"""The outside campaign of issue 18, scaled to a test: keyed batches of leads through the local stack
while Intercom fails some calls, refuses a few, and a worker is killed; then concurrent retries.

The promise it checks: no lead parked as outcome-unknown unless a POST of it reached Intercom, no
contact twice, nothing pending, one `Contact Created` per created contact and one `Batch Completed`
per completion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import urllib3

from local.aws import client
from tests.integration.stack import running_stack

pytestmark = pytest.mark.slow  # minutes: hundreds of leads through the local stack, a worker killed

BATCHES, LEADS, REFUSED, RETRIES = 3, 100, 6, 20
KEY = {"x-api-key": "local-dev-key", "Content-Type": "application/json"}
http = urllib3.PoolManager(maxsize=RETRIES, retries=False, timeout=60)


def _wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)
    return found


def _get(url: str) -> Any:
    answer = http.request("GET", url, headers=KEY)
    assert answer.status == 200, answer.data
    return json.loads(answer.data)


def _control(stack: dict[str, Any], path: str, body: dict[str, Any]) -> None:
    assert http.request("POST", stack["sandbox_url"] + path, body=json.dumps(body)).status == 200


def _requests(stack: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_get(stack["sandbox_url"] + "/_sandbox/requests"))


def _emails_in(value: Any) -> Iterator[str]:
    if isinstance(value, str) and "@" in value:
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _emails_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _emails_in(inner)


def _looked_up_before_sent(requests: list[dict[str, Any]]) -> list[str]:
    """Leads Intercom's search was asked about before any POST of them had reached Intercom: leads parked
    as outcome-unknown though never sent (the search is only asked about a lead whose outcome is unknown)."""
    reached: set[str] = set()
    parked: list[str] = []
    for request in requests:
        if request["method"] == "POST" and request["path"] == "/contacts":
            reached.add(str((request["json"] or {}).get("email")))
        elif request["path"] == "/contacts/search":
            parked += [email for email in _emails_in(request["json"]) if email not in reached]
    return parked


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    # A lead whose outcome is unknown is looked up once its lookup window (minutes as deployed, 5 s here,
    # where the sandbox's search has no lag) has passed; the backoff is cut to 0.2 s
    with running_stack(tmp_path, RETRY_BASE_SECONDS="0.2", LEAD_LOOKUP_WINDOW_SECONDS="5") as state:
        yield state


def test_keyed_lead_batches_through_failures_a_killed_worker_and_concurrent_retries(
    stack: dict[str, Any],
) -> None:
    api, sqs = stack["api_url"], client(stack["aws_endpoint_url"], "sqs")
    # Given the queue's visibility timeout above the worker's 60 s timeout, as the template's 360 s is
    sqs.set_queue_attributes(QueueUrl=stack["queue_url"], Attributes={"VisibilityTimeout": "65"})
    # And Intercom refusing the first few calls for good (400), then failing 3% of calls with a 500 (the
    # lead may have been created: its outcome is unknown) and answering every call a little slowly
    _control(stack, "/_sandbox/faults", {"kind": "fail", "status": 400, "count": REFUSED})
    _control(stack, "/_sandbox/failure-rate", {"probability": 0.03, "status": 500, "seed": 18})
    _control(stack, "/_sandbox/faults", {"kind": "delay", "seconds": 0.2, "count": 200})

    # When keyed batches of leads are posted
    batch_ids = []
    for b in range(BATCHES):
        leads = [{"role": "lead", "email": f"camp{b}-{n}@example.com"} for n in range(LEADS)]
        answer = http.request(
            "POST",
            f"{api}/contacts/batch",
            body=json.dumps({"contacts": leads}),
            headers={**KEY, "Idempotency-Key": f"campaign-{b}-{uuid.uuid4()}"},
        )
        assert answer.status == 202, answer.data
        batch_ids.append(json.loads(answer.data)["batch_id"])
    # And a worker process is killed once the work is under way
    _wait("the worker under way", lambda: len(_requests(stack)) >= 60, timeout=120)
    before_kill = _requests(stack)
    victim = subprocess.run(
        ["pgrep", "-g", str(stack["process"].pid), "-f", "local.bootstrap ContactWorkerFunction"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()[0]
    os.kill(int(victim), signal.SIGKILL)

    # Then every batch completes, the refused leads failed, everything else created
    def batch(batch_id: str) -> dict[str, Any]:
        return dict(_get(f"{api}/contacts/batch/{batch_id}"))

    def all_completed() -> list[dict[str, Any]]:
        logs = [batch(batch_id) for batch_id in batch_ids]
        return logs if all(log["status"] == "completed" for log in logs) else []

    first = _wait("the batches to complete", all_completed, timeout=600)
    assert sum(log["counts"]["failed"] for log in first) == REFUSED
    assert sum(log["counts"]["created"] for log in first) == BATCHES * LEADS - REFUSED

    # When the refusals are over and each batch is retried by many callers at once
    _control(stack, "/_sandbox/failure-rate", {"probability": 0.0})
    with ThreadPoolExecutor(RETRIES) as callers:
        answers = list(
            callers.map(
                lambda batch_id: http.request("POST", f"{api}/contacts/batch/{batch_id}/retry", headers=KEY),
                [batch_id for batch_id in batch_ids for _ in range(RETRIES)],
            )
        )
    # Then each failed lead was requeued once, by one of them
    assert {answer.status for answer in answers} == {202}
    assert sum(json.loads(answer.data)["requeued"] for answer in answers) == REFUSED
    # And every batch completes again with every lead created and nothing pending or failed
    final = _wait("the retried batches to complete", all_completed, timeout=300)
    for log in final:
        assert log["counts"] == {**log["counts"], "total": LEADS, "created": LEADS, "pending": 0, "failed": 0}

    # And Intercom holds each lead once, as the run log says
    stored = _get(stack["sandbox_url"] + "/contacts")["data"]
    emails = Counter(contact["email"] for contact in stored)
    assert len(emails) == BATCHES * LEADS
    assert set(emails.values()) == {1}
    # And no lead was looked up as outcome-unknown before a POST of it had reached Intercom (counted up
    # to the kill: a process killed between its journal entry and its send leaves a lead truly unknown)
    assert _looked_up_before_sent(before_kill) == []
    # And one `Contact Created` per created contact, one `Batch Completed` per completion (two per batch
    # with a refused lead: before and after its retry)
    events = _events(stack)
    created = Counter(
        event["detail"]["contact_id"] for event in events if event["detail-type"] == "Contact Created"
    )
    assert created == Counter({contact["id"]: 1 for contact in stored})
    completions = Counter(
        event["detail"]["batch_id"] for event in events if event["detail-type"] == "Batch Completed"
    )
    refused_in = Counter(log["batch_id"] for log in first if log["counts"]["failed"])
    assert completions == Counter({batch_id: 1 + (batch_id in refused_in) for batch_id in batch_ids})
    # And the DLQ holds the refused leads' first copies, and nothing else (a retry sends a new copy; the
    # README says redriving these later creates nothing twice)
    left = sqs.get_queue_attributes(QueueUrl=stack["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"])
    assert left["Attributes"]["ApproximateNumberOfMessages"] == str(REFUSED)


def _events(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """Every outcome event, as the stack's rule delivered it to its log group."""
    logs = client(stack["aws_endpoint_url"], "logs")
    group = f"/aws/events/{stack['event_bus']}"
    found: list[dict[str, Any]] = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
        found += [json.loads(entry["message"]) for entry in page["events"]]
    return found
