"""The SQS path end to end: real messages in moto's queues, the worker in-process, the sandbox over HTTP."""

from __future__ import annotations

import json
import time

from intercom_contacts.errors import IntercomUnavailable
from intercom_contacts.handlers import worker
from intercom_contacts.redrive import Redrive
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import Configure
from tests.integration.conftest import LEAD, USER, WorkerQueues


def test_a_batch_reports_only_the_transient_failure_and_dead_letters_the_invalid(
    queues: WorkerQueues, sandbox: IntercomSandbox, configure: Configure
) -> None:
    # Given 10 messages: 7 valid leads, one body that is not JSON, one invalid email, and one more lead
    configure(INTERCOM_MAX_ATTEMPTS="1")
    for n in range(8):
        queues.send({**LEAD, "email": f"lead{n}@example.com"}, OnConflict="return")
    queues.send("{not json")
    queues.send({"role": "lead", "email": "not-an-email"})
    # And Intercom answers one request with 503
    sandbox.fail_next(1, 503)
    # When the worker gets the batch
    failed, messages = queues.run_worker()
    # Then exactly the record that met the 503 is reported, and the other 7 leads exist
    assert len(failed) == 1
    created = {c["email"] for c in sandbox.contacts.values()}
    assert len(created) == 7
    assert json.loads(messages[failed[0]]["Body"])["email"] not in created
    # And the invalid ones are in the DLQ with their error codes, gone from the source queue
    dead = queues.dead_letters()
    assert dead["{not json"]["ErrorCode"] == "INVALID_JSON"
    invalid = dead[json.dumps({"role": "lead", "email": "not-an-email"})]
    assert invalid["ErrorCode"] == "VALIDATION_ERROR"
    assert "email" in invalid["ErrorMessage"]
    assert invalid["FailedAt"]


def test_the_original_attributes_travel_to_the_dlq(queues: WorkerQueues, sandbox: IntercomSandbox) -> None:
    sandbox.seed_contact(**USER)
    queues.send(USER, OnConflict="fail", IdempotencyKey="crm-7")
    failed, _ = queues.run_worker()
    assert failed == []
    [attributes] = queues.dead_letters().values()
    assert attributes["OnConflict"] == "fail"
    assert attributes["IdempotencyKey"] == "crm-7"
    assert attributes["ErrorCode"] == "CONTACT_EXISTS"


def test_a_failing_message_ends_in_the_dlq_after_five_receives(
    queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given Intercom is down
    sandbox.fail_next(1000, 503)
    queues.send(LEAD)
    # When the worker receives the message five times
    reports = [queues.run_worker()[0] for _ in range(5)]
    # Then it was retried four times and dead-lettered with the reason on the fifth
    assert [len(r) for r in reports] == [1, 1, 1, 1, 0]
    assert queues.receive() == []
    [attributes] = queues.dead_letters().values()
    assert attributes["ErrorCode"] == "INTERCOM_UNAVAILABLE"


def test_a_retry_waits_longer_each_time(
    queues: WorkerQueues, sandbox: IntercomSandbox, configure: Configure
) -> None:
    # Given a 30 s backoff base and Intercom down
    configure(RETRY_BASE_SECONDS="30")
    sandbox.fail_next(1000, 503)
    queues.send(LEAD)
    # When the worker fails a message it received hidden for only 1 s
    failed, _ = queues.run_worker(visibility=1)
    assert len(failed) == 1
    # Then 1.5 s later it is still hidden: the worker set its visibility to the backoff
    time.sleep(1.5)
    assert queues.receive() == []
    # And each further retry waits four times longer
    outage = IntercomUnavailable("down")
    assert [worker.record_processor().backoff_seconds(n, outage) for n in (1, 2, 3, 4)] == [
        30,
        120,
        480,
        1920,
    ]


def test_the_same_message_delivered_twice_creates_one_contact(
    queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given the same lead sent twice (SQS delivers at least once; leads are not deduplicated by Intercom)
    queues.send(LEAD)
    queues.send(LEAD)
    # When the worker handles both, in one batch and then again in another
    queues.run_worker()
    queues.send(LEAD)
    queues.run_worker()
    # Then Intercom was asked once
    assert len(sandbox.requests_to("POST", "/contacts")) == 1
    assert len(sandbox.contacts) == 1


def test_an_empty_batch_and_an_all_failed_batch_are_not_crashes(
    queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    assert worker.lambda_handler({"Records": []}, queues.context) == {"batchItemFailures": []}
    sandbox.fail_next(1000, 503)
    queues.send(LEAD)
    queues.send({**LEAD, "email": "other@example.com"})
    failed, _ = queues.run_worker()
    assert len(failed) == 2


def test_selective_redrive_moves_only_the_chosen_reason_and_they_then_succeed(
    queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given one message dead-lettered for an outage and one for invalid JSON
    sandbox.fail_next(1000, 503)
    queues.send(LEAD)
    queues.send("{broken")
    for _ in range(5):
        queues.run_worker()
    sqs = queues.aws.client("sqs")
    redrive = Redrive(sqs, queues.aws.queue_url, queues.aws.dlq_url, say=lambda _: None)
    assert redrive.list_reasons() == {"INTERCOM_UNAVAILABLE": 1, "INVALID_JSON": 1}
    # When the outage is over and only INTERCOM_UNAVAILABLE is redriven
    sandbox.clear_faults()
    assert redrive.move_reason("INTERCOM_UNAVAILABLE", dry_run=True) == 1
    assert redrive.move_reason("INTERCOM_UNAVAILABLE") == 1
    # Then it is created, and the invalid one is still in the DLQ
    assert queues.run_worker()[0] == []
    assert [c["email"] for c in sandbox.contacts.values()] == [LEAD["email"]]
    assert [a["ErrorCode"] for a in queues.dead_letters().values()] == ["INVALID_JSON"]


def test_a_batch_under_429s_ends_with_every_record_created_or_reported(
    queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given Intercom allows 4 calls per 30 s window, 10 messages arrive, and the invocation has 20 s
    # left: less than the window for its Intercom work, enough for its settling (two AWS calls' worst)
    sandbox.set_rate_limit(4, window_seconds=30.0)
    queues.context.remaining_millis = 20_000
    bodies = {f"l{n}@example.com": queues.send({**LEAD, "email": f"l{n}@example.com"}) for n in range(10)}
    # When the worker handles the batch
    failed, _ = queues.run_worker()
    # Then every record is either created or reported for retry; none is lost or dead-lettered
    created = {c["email"] for c in sandbox.contacts.values()}
    assert len(created) + len(failed) == 10
    assert 4 <= len(created) <= 8  # 4 a window; the batch may straddle two windows
    assert {bodies[email] for email in created}.isdisjoint(failed)
    assert queues.dead_letters() == {}


def test_a_new_worker_reads_the_secret_once_for_its_first_batch(
    queues: WorkerQueues, sandbox: IntercomSandbox
) -> None:
    # Given a fresh container and a count of real GetSecretValue calls
    from intercom_contacts import services

    reads: list[int] = []
    services.secrets_provider().client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append(1)
    )
    # When its first batch of ten leads is handled by ten threads at once
    for n in range(10):
        queues.send({**LEAD, "email": f"first{n}@example.com"})
    assert queues.run_worker()[0] == []
    # Then one of them read the secret and the others found it cached
    assert len(reads) == 1
    assert len(sandbox.contacts) == 10


def test_a_worker_that_paces_itself_meets_no_429_when_its_batch_exceeds_the_window(
    queues: WorkerQueues, sandbox: IntercomSandbox, configure: Configure
) -> None:
    # Given the worker as the template deploys it (it paces itself, leaving the API a share), and an
    # Intercom window of 4 calls every 2 seconds: fewer than the batch's 10 leads
    configure(API_RATE_LIMIT_SHARE="5", INTERCOM_MAX_ATTEMPTS="1")
    sandbox.set_rate_limit(4, window_seconds=2)
    for n in range(10):
        queues.send({**LEAD, "email": f"paced{n}@example.com"})
    # When the worker takes the batch with its 10 threads
    failed, _ = queues.run_worker()
    # Then it spread its calls over the windows: Intercom answered none with 429, and every lead
    # exists once
    assert failed == []
    assert [r.status for r in sandbox.requests_to("POST", "/contacts")] == [200] * 10
    assert sorted(c["email"] for c in sandbox.contacts.values()) == sorted(
        f"paced{n}@example.com" for n in range(10)
    )
