"""The outcome events of a worker's invocation: each fits in PutEvents, and one refused entry does not
hold back the others. Real moto (queues, tables, bus) and the sandbox."""

from __future__ import annotations

import json
from collections import Counter

from local.intercom_sandbox import IntercomSandbox
from tests.integration.conftest import LEAD, BusEvents, WorkerQueues


def test_a_failure_with_a_huge_message_is_announced_cut_and_the_rest_of_the_batch_too(
    queues: WorkerQueues, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    # Given nine leads and a 92 KiB body of unknown fields, whose error names every one of them
    for n in range(9):
        queues.send({**LEAD, "email": f"ok{n}@example.com"})
    huge = {**LEAD, **{f"unknown_{n:05d}": n for n in range(5000)}}
    assert len(json.dumps(huge)) > 90_000
    queues.send(huge)
    # When the worker handles them in one invocation
    failed, _ = queues.run_worker()
    # Then no record is retried: every outcome was announced, the failure's message cut to 1,000
    # characters as in the DLQ
    assert failed == []
    seen = bus_events.drain()
    assert Counter(kind for kind, _ in seen) == {"Contact Created": 9, "Contact Failed": 1}
    [failure] = [detail for kind, detail in seen if kind == "Contact Failed"]
    assert failure["code"] == "VALIDATION_ERROR"
    assert len(failure["message"]) == 1000
    [dead] = queues.dead_letters().values()
    assert dead["ErrorMessage"] == failure["message"]
