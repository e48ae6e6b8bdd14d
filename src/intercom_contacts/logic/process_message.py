"""The records of an SQS batch: create each contact once, retry it later with backoff, or dead-letter it
with a reason; then leave the invocation's outcomes in the run log and on the event bus together
(logic/outcomes.py), and only then send the failures to the DLQ."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import single_metric
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts import queues
from intercom_contacts.errors import ContactError, IntercomRateLimited
from intercom_contacts.logic.custom_attributes import WorkspaceAttributes
from intercom_contacts.logic.idempotency import ContactCreator
from intercom_contacts.logic.outcomes import Outcomes, Settled, Subject
from intercom_contacts.models.messages import ContactMessage, InvalidMessage, batch_item_of, parse_record
from intercom_contacts.observability import MetricUnit, logger, mask_email, metrics

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


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
                return Done(
                    record, Settled(subject, "failed", code=error.code, message=error.message), attempt
                )
            self._retry_later(record, error, attempt)
            self.outcomes.retrying(subject, error.code, error.message)
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

    def settle(self, done: Sequence[Done]) -> list[tuple[Done, Exception]]:
        """Record and announce the outcomes, then dead-letter the failures. Returns the records to retry:
        all of them when recording or announcing failed (a retry replays each contact, never creates it
        again), or those the DLQ did not take."""
        if not done:
            return []
        try:
            self.outcomes.settle([item.outcome for item in done])
        except ContactError as error:
            return self._settling_failed(done, error)
        retry: list[tuple[Done, Exception]] = []
        for item in done:
            if item.dead_letter:
                try:
                    self._park(item.record, item.outcome.code or "", item.outcome.message or "")
                except (BotoCoreError, ClientError) as error:  # still on the source queue: SQS retries it
                    retry.append((item, error))
            else:
                metrics.add_metric(
                    name=f"Contacts{item.outcome.status.capitalize()}", unit=MetricUnit.Count, value=1
                )
        return retry

    def _failed(self, record: SQSRecord, subject: Subject, code: str, message: str, attempt: int) -> Done:
        return Done(record, Settled(subject, "failed", code=code, message=message), attempt)

    def backoff_seconds(self, attempt: int, error: ContactError) -> float:
        """1, 4, 16, 64 s with the default base, or Intercom's own reset time when it is later."""
        wait = float(self.retry_base_seconds * 4 ** (attempt - 1))
        return max(wait, float(error.retry_after)) if isinstance(error, IntercomRateLimited) else wait

    def _settling_failed(self, done: Sequence[Done], error: ContactError) -> list[tuple[Done, Exception]]:
        """The run log or the bus is down: each record is tried again, or, on its last receive, parked in
        the DLQ with its own reason (a failure) or this one (a contact that exists; a redrive replays it)."""
        logger.warning("outcomes not recorded; the records are tried again", extra={"code": error.code})
        retry: list[tuple[Done, Exception]] = []
        for item in done:
            if item.attempt < self.max_receive_count:
                self._retry_later(item.record, error, item.attempt)
                retry.append((item, error))
                continue
            own = (item.outcome.code or "", item.outcome.message or "")
            code, message = own if item.dead_letter else (error.code, error.message)
            try:
                self._park(item.record, code, message)
            except (BotoCoreError, ClientError) as failure:
                retry.append((item, failure))
        return retry

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
    return Subject(
        role=message.request.role,
        external_id=message.request.external_id,
        idempotency_key=message.caller_key,
        batch_item=message.batch_item,
    )
