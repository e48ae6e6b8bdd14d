"""One SQS record: create its contact once, retry it later with backoff, or dead-letter it with a reason;
and leave its outcome in the run log (a batch's item) and on the event bus (logic/outcomes.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import single_metric
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts import queues
from intercom_contacts.errors import ContactError, IntercomRateLimited
from intercom_contacts.logic.idempotency import ContactCreator
from intercom_contacts.logic.outcomes import Outcomes, Subject
from intercom_contacts.models.messages import ContactMessage, InvalidMessage, batch_item_of, parse_record
from intercom_contacts.observability import MetricUnit, logger, mask_email, metrics

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class RecordProcessor:
    creator: ContactCreator
    outcomes: Outcomes
    sqs: SQSClient
    queue_url: str
    dlq_url: str
    retry_base_seconds: float = 1.0
    max_receive_count: int = 5

    def process(self, record: SQSRecord, *, deadline: float) -> str:
        """The record's outcome (created, existing, updated, dead_lettered), or raise to have it retried."""
        attempt = int(record.attributes.approximate_receive_count or 1)
        try:
            message = parse_record(record)
        except InvalidMessage as invalid:
            subject = Subject(batch_item=batch_item_of(record))
            return self._dead_letter(record, subject, invalid.code, invalid.message)
        subject = _subject(message)
        try:
            result = self.creator.create(
                message.request,
                message.on_conflict,
                idempotency_key=message.idempotency_key,
                deadline=deadline,
            )
        except ContactError as error:
            if not error.retryable or attempt >= self.max_receive_count:
                return self._dead_letter(record, subject, error.code, error.message)
            self._retry_later(record, error, attempt)
            self.outcomes.retrying(subject, error.code, error.message)
            raise
        try:
            self.outcomes.finished(subject, result.outcome.value, result.contact)
        except ContactError as error:  # the contact exists: only recording its outcome is tried again
            if attempt >= self.max_receive_count:
                return self._park(record, error.code, error.message)
            self._retry_later(record, error, attempt)
            raise
        metrics.add_metric(
            name=f"Contacts{result.outcome.value.capitalize()}", unit=MetricUnit.Count, value=1
        )
        logger.info(
            "contact %s",
            result.outcome.value,
            extra={
                "contact_id": result.contact.get("id"),
                "email": mask_email(message.request.email),
                "replayed": result.replayed,
            },
        )
        return result.outcome.value

    def backoff_seconds(self, attempt: int, error: ContactError) -> float:
        """1, 4, 16, 64 s with the default base, or Intercom's own reset time when it is later."""
        wait = float(self.retry_base_seconds * 4 ** (attempt - 1))
        return max(wait, float(error.retry_after)) if isinstance(error, IntercomRateLimited) else wait

    def _retry_later(self, record: SQSRecord, error: ContactError, attempt: int) -> None:
        wait = self.backoff_seconds(attempt, error)
        metrics.add_metric(name="ContactsRetried", unit=MetricUnit.Count, value=1)
        logger.warning("retrying later", extra={"code": error.code, "attempt": attempt, "wait_seconds": wait})
        try:
            queues.delay_retry(self.sqs, self.queue_url, record, wait)
        except (BotoCoreError, ClientError):
            # Still reported as failed: the queue's own visibility timeout brings it back.
            logger.exception("could not delay the retry")

    def _dead_letter(self, record: SQSRecord, subject: Subject, code: str, message: str) -> str:
        """Final failure: recorded and announced first, so a crash before the DLQ has it repeats both."""
        self.outcomes.failed(subject, code, message)
        return self._park(record, code, message)

    def _park(self, record: SQSRecord, code: str, message: str) -> str:
        queues.dead_letter(self.sqs, self.dlq_url, record, code, message)  # raises: then SQS retries it
        with single_metric(name="ContactsDeadLettered", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="code", value=code)
        logger.error("sent to the dead-letter queue", extra={"code": code, "reason": message})
        return DEAD_LETTERED


def _subject(message: ContactMessage) -> Subject:
    return Subject(
        role=message.request.role,
        external_id=message.request.external_id,
        idempotency_key=message.caller_key,
        batch_item=message.batch_item,
    )
