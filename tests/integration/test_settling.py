"""When the run log or the bus is down while the worker settles, a contact Intercom created is never
dead-lettered: its last receive hands it to a fresh copy of the message, whose receive replays the
contact from the idempotency store and settles it. Real moto and the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from local.intercom_sandbox import IntercomSandbox
from tests.conftest import Configure
from tests.integration.conftest import LEAD, BusEvents, CallApi, WorkerQueues


@pytest.mark.parametrize("down", ["EVENT_BUS_NAME", "RUN_LOG_TABLE_NAME"])
def test_a_created_contact_outlives_a_settling_outage_across_its_last_receive(
    call_api: CallApi,
    queues: WorkerQueues,
    sandbox: IntercomSandbox,
    bus_events: BusEvents,
    configure: Configure,
    down: str,
) -> None:
    # Given a batch of one lead, and the bus (or the run log) unreachable for the worker
    batch_id = call_api({"contacts": [LEAD]}, path="/contacts/batch").body["batch_id"]
    working: dict[str, Any] = {
        "EVENT_BUS_NAME": queues.aws.event_bus,
        "RUN_LOG_TABLE_NAME": queues.aws.run_log_table,
    }
    configure(**{down: working[down] + "-gone"})
    # When the worker receives the message five times, the most the queue allows
    reports = [queues.run_worker()[0] for _ in range(5)]
    # Then the first four are retried, the fifth hands over to a fresh copy: nothing is dead-lettered
    assert [len(report) for report in reports] == [1, 1, 1, 1, 0]
    assert queues.dead_letters() == {}
    # And once the outage is over, the copy settles the lead that Intercom created once
    configure(**working)
    failed, messages = queues.run_worker()
    assert (failed, len(messages)) == ([], 1)
    assert len(sandbox.requests_to("POST", "/contacts")) == 1
    log = call_api(method="GET", path=f"/contacts/batch/{batch_id}").body
    assert (log["status"], log["items"][0]["status"]) == ("completed", "created")
    assert log["items"][0]["contact_id"] == next(iter(sandbox.contacts))
    assert [kind for kind, _ in bus_events.drain()] == ["Contact Created", "Batch Completed"]
