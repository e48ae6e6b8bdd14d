"""One SQS record: create its contact once, retry it later with backoff, or dead-letter it with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import single_metric
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts import queues
from intercom_contacts.errors import ContactError, IntercomRateLimited
from intercom_contacts.logic.idempotency import ContactCreator
from intercom_contacts.models.messages import InvalidMessage, parse_record
from intercom_contacts.observability import MetricUnit, logger, mask_email, metrics

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class RecordProcessor:
    creator: ContactCreator
    sqs: SQSClient
    queue_url: str
    dlq_url: str
    retry_base_seconds: float = 1.0
    max_receive_count: int = 5

    def process(self, record: SQSRecord, *, deadline: float) -> str:
        """The record's outcome (created, existing, updated, dead_lettered), or raise to have it retried."""
        try:
            message = parse_record(record)
            result = self.creator.create(
                message.request,
                message.on_conflict,
                idempotency_key=message.idempotency_key,
                deadline=deadline,
            )
        except InvalidMessage as invalid:
            return self._dead_letter(record, invalid.code, invalid.message)
        except ContactError as error:
            attempt = int(record.attributes.approximate_receive_count or 1)
            if not error.retryable or attempt >= self.max_receive_count:
                return self._dead_letter(record, error.code, error.message)
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

    def _dead_letter(self, record: SQSRecord, code: str, message: str) -> str:
        queues.dead_letter(self.sqs, self.dlq_url, record, code, message)  # raises: then SQS retries it
        with single_metric(name="ContactsDeadLettered", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="code", value=code)
        logger.error("sent to the dead-letter queue", extra={"code": code, "reason": message})
        return DEAD_LETTERED
