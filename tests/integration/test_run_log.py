"""The run log of POST /contacts/batch, its retry, and the outcome events: real queues, tables and bus
(moto), the worker in-process, Intercom's sandbox over HTTP."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from intercom_contacts.redrive import Redrive
from local.functions import LocalFunction
from local.intercom_sandbox import IntercomSandbox
from local.poller import Poller
from tests.integration.conftest import LEAD, USER, ApiAnswer, BusEvents, CallApi, WorkerQueues


def _post(call_api: CallApi, contacts: list[Any], **headers: str) -> ApiAnswer:
    return call_api({"contacts": contacts}, path="/contacts/batch", headers=headers)


def _run_log(call_api: CallApi, batch_id: str, **query: str) -> ApiAnswer:
    return call_api(method="GET", path=f"/contacts/batch/{batch_id}", query=query or None)


def _drain(queues: WorkerQueues) -> None:
    """Run the worker until the queue is empty (retries come back at once: RETRY_BASE_SECONDS=0)."""
    for _ in range(20):
        if not queues.run_worker()[1]:
            return
    raise AssertionError("the queue never emptied")


def _leads(n: int, prefix: str = "lead") -> list[dict[str, Any]]:
    return [{**LEAD, "email": f"{prefix}{i}@example.com"} for i in range(n)]


def test_the_run_log_holds_each_items_outcome_and_intercom_id(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    # Given an existing user, and a batch of two new leads, that user again, an invalid item and a user
    # Intercom refuses (a custom attribute archived in Intercom after the batch was checked and queued)
    existing = sandbox.seed_contact(**USER)
    sandbox.define_custom_attribute("tier")
    refused = {
        **USER,
        "email": "vip@example.com",
        "external_id": "vip",
        "custom_attributes": {"tier": "gold"},
    }
    contacts = [*_leads(2), USER, {"role": "user"}, refused]
    # When it is posted and the worker drains the queue
    posted = _post(call_api, contacts)
    sandbox.archive_custom_attribute("tier")
    _drain(queues)
    # Then the run log says what happened to each, with the ids Intercom holds
    batch_id = posted.body["batch_id"]
    assert (posted.status, posted.headers["Location"]) == (202, f"/contacts/batch/{batch_id}")
    log = _run_log(call_api, batch_id).body
    by_email = {c["email"]: c["id"] for c in sandbox.contacts.values()}
    assert [(i["index"], i["status"], i.get("contact_id")) for i in log["items"]] == [
        (0, "created", by_email["lead0@example.com"]),
        (1, "created", by_email["lead1@example.com"]),
        (2, "existing", existing["id"]),
        (3, "rejected", None),
        (4, "failed", None),
    ]
    assert (log["items"][3]["code"], log["items"][4]["code"]) == ("VALIDATION_ERROR", "INTERCOM_REJECTED")
    assert log["status"] == "completed"
    assert log["counts"] == {
        "total": 5,
        "pending": 0,
        "created": 2,
        "existing": 1,
        "updated": 0,
        "failed": 1,
        "rejected": 1,
    }
    # And each final outcome was announced once, then the batch's completion
    seen = bus_events.drain()
    assert Counter(kind for kind, _ in seen) == {
        "Contact Created": 2,
        "Contact Existing": 1,
        "Contact Failed": 1,
        "Batch Completed": 1,
    }
    failed = next(detail for kind, detail in seen if kind == "Contact Failed")
    assert failed == {
        "role": "user",
        "external_id": "vip",
        "batch_id": batch_id,
        "index": 4,
        "code": "INTERCOM_REJECTED",
        "message": failed["message"],
    }
    completed = next(detail for kind, detail in seen if kind == "Batch Completed")
    assert completed["counts"] == log["counts"]


def test_a_retry_after_the_cause_is_fixed_creates_the_failed_items_once(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    # Given a batch whose user Intercom refused for a custom attribute archived after the batch was queued
    refused = {**USER, "custom_attributes": {"tier": "gold"}}
    sandbox.define_custom_attribute("tier")
    batch_id = _post(call_api, [LEAD, refused]).body["batch_id"]
    sandbox.archive_custom_attribute("tier")
    _drain(queues)
    assert _run_log(call_api, batch_id).body["counts"]["failed"] == 1
    bus_events.drain()
    # When the attribute is restored in the workspace and the batch's failures are retried, twice
    sandbox.define_custom_attribute("tier")
    first = call_api(path=f"/contacts/batch/{batch_id}/retry")
    second = call_api(path=f"/contacts/batch/{batch_id}/retry")
    pending = _run_log(call_api, batch_id).body
    _drain(queues)
    # Then the first requeued it (pending again), the second nothing; now every item is created once
    assert (first.status, first.body, second.body) == (
        202,
        {"requeued": 1, "remaining": 0},
        {"requeued": 0, "remaining": 0},
    )
    assert (pending["status"], pending["items"][1]["status"]) == ("in_progress", "pending")
    log = _run_log(call_api, batch_id).body
    assert [item["status"] for item in log["items"]] == ["created", "created"]
    assert log["items"][1]["attempts"] == 2
    assert sorted(c["email"] for c in sandbox.contacts.values()) == sorted([LEAD["email"], USER["email"]])
    # And the batch was announced complete again
    assert [kind for kind, _ in bus_events.drain()] == ["Contact Created", "Batch Completed"]


def test_the_dlq_copy_of_a_retried_item_creates_nothing_twice_when_redriven(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given a lead dead-lettered during an outage, then retried through the run log and created
    sandbox.fail_next(1000, 503)
    batch_id = _post(call_api, [LEAD], **{"Idempotency-Key": "outage-1"}).body["batch_id"]
    for _ in range(5):
        queues.run_worker()
    sandbox.clear_faults()
    assert call_api(path=f"/contacts/batch/{batch_id}/retry").body == {"requeued": 1, "remaining": 0}
    _drain(queues)
    # When the DLQ's copy is redriven too
    sqs = queues.aws.client("sqs")
    Redrive(sqs, queues.aws.queue_url, queues.aws.dlq_url, say=lambda _: None).move_reason(None)
    _drain(queues)
    # Then the lead exists once and its item stays created
    assert len(sandbox.contacts) == 1
    assert (
        len(
            [r for r in sandbox.requests_to("POST", "/contacts") if r.path == "/contacts" and r.status == 200]
        )
        == 1
    )
    assert _run_log(call_api, batch_id).body["items"][0]["status"] == "created"


def test_the_same_key_and_body_give_the_same_batch_and_queue_nothing_twice(
    call_api: CallApi, queues: WorkerQueues
) -> None:
    first = _post(call_api, _leads(3), **{"Idempotency-Key": "import-7"})
    again = _post(call_api, _leads(3), **{"Idempotency-Key": "import-7"})
    other = _post(call_api, _leads(2), **{"Idempotency-Key": "import-7"})
    assert first.body["batch_id"] == again.body["batch_id"]
    assert again.body == first.body
    assert len(queues.receive()) == 3
    assert (other.status, other.body["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")


def test_a_resend_after_sqs_refused_items_queues_only_those(
    call_api: CallApi, queues: WorkerQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given SQS refuses every send once
    from intercom_contacts import queues as queue_io

    real = queue_io.send_batch
    refusals = iter([True])

    def flaky(sqs: Any, url: str, messages: Any) -> Any:
        if next(refusals, False):
            return [queue_io.SendResult(None, "ServiceUnavailable") for _ in messages]
        return real(sqs, url, messages)

    monkeypatch.setattr(queue_io, "send_batch", flaky)
    first = _post(call_api, _leads(2), **{"Idempotency-Key": "flaky-1"})
    # When the caller resends the batch with the same key
    again = _post(call_api, _leads(2), **{"Idempotency-Key": "flaky-1"})
    # Then the first answer said which failed, the resend queued them, and each is queued once
    assert (first.status, first.body["failed"]) == (503, 2)
    assert (again.status, again.body["queued"], again.body["batch_id"]) == (202, 2, first.body["batch_id"])
    assert len(queues.receive()) == 2
    assert _run_log(call_api, first.body["batch_id"]).body["counts"]["pending"] == 2


def test_counts_stay_exact_when_a_worker_dies_mid_batch_and_the_batch_is_redelivered(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given a batch of 6 leads and a worker that dies after handling half of the batch it receives
    sqs = queues.aws.client("sqs")
    sqs.set_queue_attributes(QueueUrl=queues.aws.queue_url, Attributes={"VisibilityTimeout": "1"})
    batch_id = _post(call_api, _leads(6, "crash")).body["batch_id"]
    crashing = LocalFunction(
        "ContactWorkerFunction", "tests.integration.crashing_worker.lambda_handler", 60, 256, {}
    )
    assert Poller(crashing, queues.aws.queue_url, 10, sqs).poll_once() == 6
    # When SQS delivers the whole batch again to a healthy worker, after its visibility timeout
    time.sleep(1.5)
    _drain(queues)
    # Then each lead exists once and is counted once
    log = _run_log(call_api, batch_id).body
    assert len(sandbox.contacts) == 6
    assert log["counts"] == {
        "total": 6,
        "pending": 0,
        "created": 6,
        "existing": 0,
        "updated": 0,
        "failed": 0,
        "rejected": 0,
    }
    assert {item["contact_id"] for item in log["items"]} == set(sandbox.contacts)


def test_counts_stay_exact_under_concurrent_workers_handling_the_same_records(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given a batch of 20 leads, and every message delivered to two workers at the same time
    batch_id = _post(call_api, _leads(20, "twice")).body["batch_id"]
    messages = queues.receive()
    from intercom_contacts.handlers import worker
    from local.events import sqs_event

    event = sqs_event(messages, queue_arn="arn:aws:sqs:us-east-1:123456789012:contacts")
    answers: list[Any] = []
    workers = [
        threading.Thread(target=lambda: answers.append(worker.lambda_handler(event, queues.context)))
        for _ in range(2)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    # When the records one of them could not take (in progress elsewhere) are delivered again
    for _ in range(10):
        if _run_log(call_api, batch_id).body["counts"]["pending"] == 0:
            break
        queues.run_worker()
        event_again = sqs_event(messages, queue_arn="arn:aws:sqs:us-east-1:123456789012:contacts")
        worker.lambda_handler(event_again, queues.context)
    # Then each lead exists once and the counts are exact
    log = _run_log(call_api, batch_id).body
    assert len(sandbox.contacts) == 20
    assert (log["counts"]["created"], log["counts"]["pending"], log["status"]) == (20, 0, "completed")


def test_pages_follow_the_cursor_and_filter_by_status(call_api: CallApi, queues: WorkerQueues) -> None:
    # Given a batch of 250 items, every fifth invalid
    contacts = [
        {"role": "user"} if i % 5 == 0 else {**LEAD, "email": f"p{i}@example.com"} for i in range(250)
    ]
    batch_id = _post(call_api, contacts).body["batch_id"]
    # When it is read 100 at a time, and its rejected items 20 at a time
    pages, cursor = [], None
    while True:
        page = _run_log(call_api, batch_id, limit="100", **({"cursor": cursor} if cursor else {})).body
        pages.append(page)
        if not (cursor := page.get("next_cursor")):
            break
    rejected = _run_log(call_api, batch_id, status="rejected", limit="20").body
    # Then the pages hold every item once, in order, and the filter only the rejected ones
    assert [len(page["items"]) for page in pages] == [100, 100, 50]
    assert [item["index"] for page in pages for item in page["items"]] == list(range(250))
    assert pages[0]["counts"] == {
        "total": 250,
        "pending": 200,
        "created": 0,
        "existing": 0,
        "updated": 0,
        "failed": 0,
        "rejected": 50,
    }
    assert [item["index"] for item in rejected["items"]] == list(range(0, 100, 5))
    follow = _run_log(call_api, batch_id, status="rejected", limit="20", cursor=rejected["next_cursor"]).body
    assert follow["items"][0]["index"] == 100


@pytest.mark.parametrize(
    ("path", "query", "status", "code"),
    [
        ("/contacts/batch/aaaaaaaaaaaaaaaaaaaaaaaaaa", {}, 404, "BATCH_NOT_FOUND"),
        ("/contacts/batch/..%2F..%2Fetc", {}, 404, "BATCH_NOT_FOUND"),
        ("/contacts/batch/" + "z" * 60, {}, 404, "BATCH_NOT_FOUND"),
        ("/contacts/batch/{batch_id}", {"limit": "0"}, 422, "VALIDATION_ERROR"),
        ("/contacts/batch/{batch_id}", {"limit": "1001"}, 422, "VALIDATION_ERROR"),
        ("/contacts/batch/{batch_id}", {"limit": "ten"}, 422, "VALIDATION_ERROR"),
        ("/contacts/batch/{batch_id}", {"status": "done"}, 422, "VALIDATION_ERROR"),
        ("/contacts/batch/{batch_id}", {"cursor": "not-a-cursor"}, 400, "INVALID_CURSOR"),
        ("/contacts/batch/{batch_id}", {"cursor": "{tampered}"}, 400, "INVALID_CURSOR"),
        ("/contacts/batch/{batch_id}", {"cursor": "{other_batch}"}, 400, "INVALID_CURSOR"),
    ],
)
def test_bad_batch_ids_cursors_and_limits_are_clear_4xx(
    call_api: CallApi, queues: WorkerQueues, path: str, query: dict[str, str], status: int, code: str
) -> None:
    batch_id = _post(call_api, _leads(3)).body["batch_id"]
    other_id = _post(call_api, _leads(3, "other")).body["batch_id"]
    cursor = _run_log(call_api, batch_id, limit="1").body["next_cursor"]
    other = _run_log(call_api, other_id, limit="1").body["next_cursor"]
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    values = {"tampered": tampered, "other_batch": other}
    answer = _run_log(
        call_api,
        "" if False else path.format(batch_id=batch_id).removeprefix("/contacts/batch/"),
        **{k: v.format(**values) for k, v in query.items()},
    )
    assert (answer.status, answer.body["code"]) == (status, code)
    retry = call_api(path=path.format(batch_id="a" * 26) + "/retry")
    assert (retry.status, retry.body["code"]) == (404, "BATCH_NOT_FOUND")


def test_contacts_queued_by_other_producers_have_no_batch_and_appear_only_in_events(
    queues: WorkerQueues, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    queues.send(USER, IdempotencyKey="crm-42")
    _drain(queues)
    [(kind, detail)] = bus_events.drain()
    assert kind == "Contact Created"
    assert detail == {
        "role": "user",
        "external_id": USER["external_id"],
        "idempotency_key": "crm-42",
        "contact_id": next(iter(sandbox.contacts)),
        "outcome": "created",
    }


def test_the_api_announces_each_outcome(
    call_api: CallApi, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    created = call_api(USER, headers={"Idempotency-Key": "sync-1"})
    existing = call_api(USER)
    refused = call_api(USER, query={"on_conflict": "fail"})
    assert (created.status, existing.status, refused.status) == (201, 200, 409)
    seen = bus_events.drain()
    assert [kind for kind, _ in seen] == ["Contact Created", "Contact Existing", "Contact Failed"]
    assert seen[0][1] == {
        "role": "user",
        "external_id": USER["external_id"],
        "idempotency_key": "sync-1",
        "contact_id": created.body["id"],
        "outcome": "created",
    }
    assert seen[2][1]["code"] == "CONTACT_EXISTS"


def test_an_event_that_could_not_be_published_is_published_on_the_retry_without_a_second_contact(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox, bus_events: BusEvents, configure: Any
) -> None:
    # Given the bus is unreachable while the worker creates a queued lead
    batch_id = _post(call_api, [LEAD]).body["batch_id"]
    configure(EVENT_BUS_NAME=queues.aws.event_bus + "-gone")
    failed, _ = queues.run_worker()
    assert len(failed) == 1
    assert bus_events.drain() == []
    # When the bus is back and the message comes again
    configure(EVENT_BUS_NAME=queues.aws.event_bus)
    _drain(queues)
    # Then the creation is replayed and announced, and the lead exists once
    assert [kind for kind, _ in bus_events.drain()] == ["Contact Created", "Batch Completed"]
    assert len(sandbox.contacts) == 1
    assert _run_log(call_api, batch_id).body["items"][0]["status"] == "created"
