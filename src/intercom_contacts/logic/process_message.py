"""The records of an SQS batch: create each contact once, retry it later with backoff, or dead-letter it
with a reason; then leave the invocation's outcomes in the run log and on the event bus together
(logic/outcomes.py), and only then send the failures to the DLQ."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import single_metric
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts import queues
from intercom_contacts.errors import ContactError
from intercom_contacts.logic.custom_attributes import WorkspaceAttributes
from intercom_contacts.logic.idempotency import ContactCreator
from intercom_contacts.logic.outcomes import Outcomes, Settled, Subject
from intercom_contacts.models.messages import ContactMessage, InvalidMessage, batch_item_of, parse_record
from intercom_contacts.observability import MetricUnit, logger, mask_email, metrics

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


PARALLEL_CALLS = 10  # botocore's connection pool for a client: more threads would only wait for it


class OutOfTime(ContactError):
    """An AWS call's worst case would outlast the invocation: the record waits for its next receive."""

    code = "SETTLING_OUT_OF_TIME"
    retryable = True


@dataclass(frozen=True)
class Done:
    """A record whose contact has its final outcome, to be settled with the rest of its invocation."""

    record: SQSRecord
    outcome: Settled
    attempt: int

    @property
    def dead_letter(self) -> bool:
        return self.outcome.status == "failed"


@dataclass(frozen=True)
class RecordProcessor:
    creator: ContactCreator
    outcomes: Outcomes
    sqs: SQSClient
    queue_url: str
    dlq_url: str
    aws_call_seconds: float  # one AWS call's worst case, as the clients are configured
    retry_base_seconds: float = 1.0
    max_receive_count: int = 5
    attributes: WorkspaceAttributes | None = None  # checks custom attributes again before sending

    def process(self, record: SQSRecord, *, deadline: float) -> Done:
        """The record's final outcome, or raise to have it retried (its backoff already set)."""
        attempt = int(record.attributes.approximate_receive_count or 1)
        try:
            message = parse_record(record)
        except InvalidMessage as invalid:
            subject = Subject(batch_item=batch_item_of(record))
            return Done(
                record, Settled(subject, "failed", code=invalid.code, message=invalid.message), attempt
            )
        subject = _subject(message)
        try:
            request = message.request
            if self.attributes is not None:  # a refusal is final (DLQ); an unreadable list is retried
                request = self.attributes.checked(request, create=False, deadline=deadline)
            result = self.creator.create(
                request,
                message.on_conflict,
                idempotency_key=message.idempotency_key,
                deadline=deadline,
            )
        except ContactError as error:
            if not error.retryable or attempt >= self.max_receive_count:
                # A company or a tag that failed after the contact was made: the failure names it
                contact = {"id": error.contact_id} if error.contact_id else None
                failed = Settled(subject, "failed", contact=contact, code=error.code, message=error.message)
                return Done(record, failed, attempt)
            self._retry_later(record, error, attempt)
            self.outcomes.retrying(subject, error.code, error.message, contact_id=error.contact_id)
            raise
        logger.info(
            "contact %s",
            result.outcome.value,
            extra={
                "contact_id": result.contact.get("id"),
                "email": mask_email(message.request.email),
                "replayed": result.replayed,
            },
        )
        return Done(record, Settled(subject, result.outcome.value, contact=result.contact), attempt)

    def settle(self, done: Sequence[Done], *, ends: float) -> list[tuple[Done, Exception]]:
        """Record and announce the outcomes, then dead-letter the failures, each step started only when
        its AWS calls' worst case ends before `ends`. Returns the records to retry: all of them when
        recording or announcing failed or had no time (a retry replays each contact, never creates it
        again), or those the DLQ did not take."""
        if not done:
            return []
        try:
            if not self._time_for(2, ends):  # the run log, then the bus
                raise OutOfTime("Too little of the invocation was left to settle the outcomes.")
            self.outcomes.settle([item.outcome for item in done])
        except ContactError as error:
            return self._settling_failed(done, error, ends)
        for item in done:
            if not item.dead_letter:
                metrics.add_metric(
                    name=f"Contacts{item.outcome.status.capitalize()}", unit=MetricUnit.Count, value=1
                )

        def park(item: Done) -> None:
            self._park(item.record, item.outcome.code or "", item.outcome.message or "")

        return self._each([item for item in done if item.dead_letter], ends, park)

    def backoff_seconds(self, attempt: int, error: ContactError) -> float:
        """1, 4, 16, 64 s with the default base, or the error's own `retry_after` when it is later:
        Intercom's reset, or the end of a lead's lookup window (receives spent before it cannot help)."""
        wait = float(self.retry_base_seconds * 4 ** (attempt - 1))
        return max(wait, float(error.retry_after or 0))

    def _settling_failed(
        self, done: Sequence[Done], error: ContactError, ends: float
    ) -> list[tuple[Done, Exception]]:
        """The run log or the bus is down: each record is tried again, its contact replayed from the
        idempotency store. Settling never spends a contact's receives: on its last receive, a contact
        that exists is handed to a fresh copy of its message (new receives, same idempotency key), so it
        is never dead-lettered for an outage it did not cause. A failure is dead-lettered with its own
        reason: the DLQ holds it, and its run-log item and event wait for its redrive (docs/design.md).
        A record left no time for its call is reported as it is: the queue brings it back (on the last
        receive, its redrive policy would dead-letter it: the worker's reserve leaves time for this call)."""
        logger.warning("outcomes not recorded; the records are tried again", extra={"code": error.code})

        def hand_back(item: Done) -> Exception | None:
            if item.attempt < self.max_receive_count:
                self._retry_later(item.record, error, item.attempt)
                return error
            if item.dead_letter:
                self._park(item.record, item.outcome.code or "", item.outcome.message or "")
            else:
                self._settle_later(item.record, error, item.attempt)
            return None

        return self._each(done, ends, hand_back)

    def _each(
        self, done: Sequence[Done], ends: float, call: Callable[[Done], Exception | None]
    ) -> list[tuple[Done, Exception]]:
        """`call` (one SQS call) for every record at once, each started only if its worst case ends in
        time: one call's time for the lot, not one each. Returns the records to report for a retry, with
        why: what `call` returned, or what kept it from being made (the record stays on the queue)."""

        def run(item: Done) -> Exception | None:
            try:
                self._within(ends)
                return call(item)
            except (BotoCoreError, ClientError, OutOfTime) as failure:
                return failure

        if not done:
            return []
        with ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix="settle") as pool:
            results = list(pool.map(run, done))
        return [(item, error) for item, error in zip(done, results, strict=True) if error is not None]

    def _time_for(self, calls: int, ends: float) -> bool:
        return time.monotonic() + calls * self.aws_call_seconds <= ends

    def _within(self, ends: float) -> None:
        if not self._time_for(1, ends):
            raise OutOfTime("Too little of the invocation was left for the call.")

    def _settle_later(self, record: SQSRecord, error: ContactError, attempt: int) -> None:
        delay = self.backoff_seconds(attempt, error)
        queues.send_copy(self.sqs, self.queue_url, record, delay)
        metrics.add_metric(name="ContactsSettlingRequeued", unit=MetricUnit.Count, value=1)
        logger.warning("settling handed to a fresh copy", extra={"code": error.code, "delay_seconds": delay})

    def _retry_later(self, record: SQSRecord, error: ContactError, attempt: int) -> None:
        wait = self.backoff_seconds(attempt, error)
        metrics.add_metric(name="ContactsRetried", unit=MetricUnit.Count, value=1)
        logger.warning("retrying later", extra={"code": error.code, "attempt": attempt, "wait_seconds": wait})
        try:
            queues.delay_retry(self.sqs, self.queue_url, record, wait)
        except (BotoCoreError, ClientError):
            # Still reported as failed: the queue's own visibility timeout brings it back.
            logger.exception("could not delay the retry")

    def _park(self, record: SQSRecord, code: str, message: str) -> None:
        queues.dead_letter(self.sqs, self.dlq_url, record, code, message)
        with single_metric(name="ContactsDeadLettered", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="code", value=code)
        logger.error("sent to the dead-letter queue", extra={"code": code, "reason": message})


def _subject(message: ContactMessage) -> Subject:
    return Subject.of(message.request, message.caller_key, message.batch_item)
