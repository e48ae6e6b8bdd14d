"""The run log under races: concurrent retries, a retry racing the worker, two copies of one item
settling at once, and the retry endpoint's deadline. Real queues, tables and bus (moto), the worker
in-process, Intercom's sandbox over HTTP. Where an interleaving matters, a botocore event hook holds
or triggers one real call at the moment the race needs; SQS's refusal at intake is injected as in
test_run_log.py."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from intercom_contacts import services
from intercom_contacts.logic.outcomes import Settled, Subject
from intercom_contacts.models.batch import RetryResponse
from intercom_contacts.models.messages import BatchItem
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import FakeLambdaContext
from tests.integration.conftest import LEAD, USER, ApiAnswer, BusEvents, CallApi, WorkerQueues


def _post(call_api: CallApi, contacts: list[Any]) -> ApiAnswer:
    return call_api({"contacts": contacts}, path="/contacts/batch")


def _run_log(call_api: CallApi, batch_id: str) -> dict[str, Any]:
    answer = call_api(method="GET", path=f"/contacts/batch/{batch_id}", query={"limit": "1000"})
    assert answer.status == 200
    body: dict[str, Any] = answer.body
    return body


def _retry(call_api: CallApi, batch_id: str) -> ApiAnswer:
    return call_api(path=f"/contacts/batch/{batch_id}/retry")


def _drain(queues: WorkerQueues) -> None:
    for _ in range(20):
        if not queues.run_worker()[1]:
            return
    raise AssertionError("the queue never emptied")


def _messages_in(queues: WorkerQueues) -> int:
    attributes = queues.aws.client("sqs").get_queue_attributes(
        QueueUrl=queues.aws.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _post_refused_users(call_api: CallApi, sandbox: IntercomSandbox, n: int) -> str:
    """A batch of users that passes intake's check of its custom attribute `tier`, which is then archived:
    Intercom refuses them until the workspace has `tier` again. Returns the batch id."""
    users = [
        {**USER, "email": f"u{i}@example.com", "external_id": f"u-{i}", "custom_attributes": {"tier": "gold"}}
        for i in range(n)
    ]
    sandbox.define_custom_attribute("tier")
    batch_id = str(_post(call_api, users).body["batch_id"])
    sandbox.archive_custom_attribute("tier")
    return batch_id


def _completions(seen: list[tuple[str, dict[str, Any]]]) -> list[int]:
    return [detail["completion"] for kind, detail in seen if kind == "Batch Completed"]


@pytest.mark.slow
def test_concurrent_retries_requeue_each_failed_item_once(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    # Given a batch of 100 users Intercom refused, then the cause fixed
    batch_id = _post_refused_users(call_api, sandbox, 100)
    _drain(queues)
    assert _run_log(call_api, batch_id)["counts"]["failed"] == 100
    bus_events.drain()
    sandbox.define_custom_attribute("tier")
    # When ten retries of the batch run at the same time
    # (the retry's logic in threads: the API resolver keeps per-request state, where Lambda environments
    # running concurrently would share nothing but the table and the queue)
    batches = services.batches().batches
    start = threading.Barrier(10)

    def retry(_: int) -> RetryResponse:
        start.wait()
        return batches.retry_failed(batch_id, deadline=float("inf"))

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(retry, range(10)))
    queued = _messages_in(queues)
    _drain(queues)
    # Then the answers add up to the failed items, each of which was queued once
    assert sum(answer.requeued for answer in answers) == 100
    assert queued == 100
    # And each contact was created and announced once, and the batch's completion announced once
    seen = bus_events.drain()
    created = [detail["index"] for kind, detail in seen if kind == "Contact Created"]
    assert sorted(created) == list(range(100))
    assert len(sandbox.contacts) == 100
    retries_that_requeued = sum(answer.requeued > 0 for answer in answers)
    assert _completions(seen) == [1 + retries_that_requeued]
    log = _run_log(call_api, batch_id)
    assert (log["status"], log["counts"]["created"], log["counts"]["failed"]) == ("completed", 100, 0)


def test_one_retry_is_one_new_completion(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    # Given a batch of 3 users Intercom refused, announced complete once
    batch_id = _post_refused_users(call_api, sandbox, 3)
    _drain(queues)
    first = _completions(bus_events.drain())
    # When the cause is fixed and the batch is retried once
    sandbox.define_custom_attribute("tier")
    assert _retry(call_api, batch_id).body["requeued"] == 3
    _drain(queues)
    # Then its completions are numbered 1, then 2
    assert (first, _completions(bus_events.drain())) == ([1], [2])


def test_a_requeued_item_that_fails_before_the_retry_answers_stays_failed(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    # Given a user Intercom refused, still refused, and a worker that takes each message the moment
    # the retry endpoint has sent it
    batch_id = _post_refused_users(call_api, sandbox, 1)
    _drain(queues)
    bus_events.drain()
    taken = threading.Event()

    def worker_takes_it(**_: Any) -> None:
        if not taken.is_set():
            taken.set()
            runner = threading.Thread(target=_drain, args=(queues,))
            runner.start()
            runner.join()

    services.sqs_client().meta.events.register("after-call.sqs.SendMessageBatch", worker_takes_it)
    # When the batch is retried
    answer = _retry(call_api, batch_id)
    # Then the new copy failed again: the item is failed, counted failed, and the batch complete again
    assert (answer.status, answer.body["requeued"], taken.is_set()) == (202, 1, True)
    log = _run_log(call_api, batch_id)
    assert log["items"][0]["status"] == "failed"
    assert (log["status"], log["counts"]["failed"], log["counts"]["pending"]) == ("completed", 1, 0)
    assert queues.receive() == []
    assert _completions(bus_events.drain()) == [2]


def test_a_failure_recorded_after_a_success_of_the_same_item_is_not_counted(
    call_api: CallApi, queues: WorkerQueues, bus_events: BusEvents
) -> None:
    # Given one queued lead, and two copies of it settling at once (a redrive and a retry): the first
    # copy failed and its item is failed, but its count reaches the header only after the second
    # copy's success is recorded
    batch_id = _post(call_api, [LEAD]).body["batch_id"]
    subject = Subject(role="lead", batch_item=BatchItem(batch_id, 0))
    outcomes = services.outcomes()
    item_failed, success_recorded = threading.Event(), threading.Event()

    def hold_the_failure_count(params: dict[str, Any], **_: Any) -> None:
        header = params.get("Key", {}).get("sk") == {"S": "batch"}
        late_copy = threading.current_thread().name == "late-copy"
        if late_copy and header and "ADD failed" in params["UpdateExpression"]:
            item_failed.set()
            success_recorded.wait(timeout=30)

    services.dynamodb_client().meta.events.register(
        "provide-client-params.dynamodb.UpdateItem", hold_the_failure_count
    )
    failure = Settled(subject, "failed", code="INTERCOM_UNAVAILABLE", message="Intercom answered 503.")
    late = threading.Thread(target=outcomes.settle, args=([failure],), name="late-copy")
    late.start()
    assert item_failed.wait(timeout=30)
    # When the second copy's success is recorded, and then the first copy's failure count
    outcomes.settle([Settled(subject, "created", contact={"id": "c-1"})])
    success_recorded.set()
    late.join()
    # Then the item counts once, as created
    log = _run_log(call_api, batch_id)
    assert log["items"][0]["status"] == "created"
    assert log["counts"] == {
        "total": 1,
        "pending": 0,
        "created": 1,
        "existing": 0,
        "updated": 0,
        "failed": 0,
        "rejected": 0,
    }
    completed = [detail["counts"] for kind, detail in bus_events.drain() if kind == "Batch Completed"]
    assert completed == [log["counts"]]


def test_a_retry_requeues_what_fits_in_the_time_left_and_says_how_many_remain(
    call_api: CallApi,
    queues: WorkerQueues,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a batch of 300 leads SQS refused at intake, all failed
    from intercom_contacts import queues as queue_io

    real = queue_io.send_batch
    monkeypatch.setattr(
        queue_io, "send_batch", lambda sqs, url, messages: [queue_io.SendResult(None, "Down")] * len(messages)
    )
    batch_id = _post(call_api, [{**LEAD, "email": f"t{i}@example.com"} for i in range(300)]).body["batch_id"]
    monkeypatch.setattr(queue_io, "send_batch", real)
    assert _run_log(call_api, batch_id)["counts"]["failed"] == 300
    # When the batch is retried with no time left past the answer's margin, then with time
    lambda_context.remaining_millis = 1_000
    short = _retry(call_api, batch_id)
    after_short = _run_log(call_api, batch_id)["counts"]
    lambda_context.remaining_millis = 29_000
    full = _retry(call_api, batch_id)
    # Then the first requeued part of them and said how many it left, the second the rest
    assert short.status == 202
    requeued, remaining = short.body["requeued"], short.body["remaining"]
    assert (requeued > 0, remaining > 0, requeued + remaining) == (True, True, 300)
    assert (after_short["pending"], after_short["failed"]) == (requeued, remaining)
    assert (full.status, full.body) == (202, {"requeued": remaining, "remaining": 0})
    assert len(queues.receive()) == 300
    assert _run_log(call_api, batch_id)["counts"]["pending"] == 300


def test_updated_at_moves_each_time_an_item_is_tried_again(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given a queued lead and Intercom answering 503 to everything
    batch_id = _post(call_api, [LEAD]).body["batch_id"]
    sandbox.fail_next(1000, 503)
    before = _run_log(call_api, batch_id)
    # When the worker tries it, and tries it again
    queues.run_worker()
    once = _run_log(call_api, batch_id)
    queues.run_worker()
    twice = _run_log(call_api, batch_id)
    # Then the batch is still in progress, and its updated_at moved with each attempt
    assert [log["items"][0]["attempts"] for log in (before, once, twice)] == [0, 1, 2]
    assert [log["status"] for log in (once, twice)] == ["in_progress", "in_progress"]
    assert before["updated_at"] < once["updated_at"] < twice["updated_at"]
