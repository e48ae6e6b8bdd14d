"""SQS worker: create the contacts of a batch concurrently, report exactly the records to retry."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_contacts.config import ConfigurationError, get_settings
from intercom_contacts.handlers import resume_garbage_collection
from intercom_contacts.logic.process_message import Done, RecordProcessor
from intercom_contacts.observability import logger, metrics
from intercom_contacts.services import (
    AWS_CALL_SECONDS,
    build_at_init,
    contact_creator,
    deadline_for,
    intercom_deadline,
    outcomes,
    settle_call_seconds,
    sqs_client,
    workspace_attributes,
)


class ConcurrentBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor, with the records of a batch run on a bounded thread pool, then their
    outcomes settled together.

    The records share the one urllib3 connection pool and rate-limit gate, so a batch of 10 costs about
    one Intercom round trip, and a spent rate-limit window slows every record down before a 429. Their
    outcomes go to the run log and the bus in a few calls for the whole batch; a record whose outcome
    could not be settled is reported failed, so SQS delivers it again and its contact is replayed.
    """

    def process(self) -> list[tuple[Any, ...]]:
        # Each result is ("success", the handler's Done, the raw record) or ("fail", reason, record).
        settler = replace(record_processor(), aws_call_seconds=settle_call_seconds(self.lambda_context))
        results: list[Any] = list(_pool().map(self._process_record, self.records))
        raw_of = {id(done): raw for kind, done, raw in results if kind == "success"}
        settled = [done for kind, done, _ in results if kind == "success"]
        ends = deadline_for(self.lambda_context)  # the records' Intercom work kept the settling's time
        for item, error in settler.settle(settled, ends=ends):
            raw = raw_of[id(item)]
            self.success_messages.remove(raw)
            self.failure_handler(SQSRecord(raw), (type(error), error, error.__traceback__))
        return results


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=get_settings().worker_concurrency, thread_name_prefix="record")


@functools.cache
def record_processor() -> RecordProcessor:
    settings = get_settings()
    if not (settings.contacts_queue_url and settings.contacts_dlq_url and settings.idempotency_table_name):
        raise ConfigurationError(
            "CONTACTS_QUEUE_URL, CONTACTS_DLQ_URL and IDEMPOTENCY_TABLE_NAME must be set for the worker"
        )
    return RecordProcessor(
        creator=contact_creator(),
        outcomes=outcomes(),
        sqs=sqs_client(),
        queue_url=settings.contacts_queue_url,
        dlq_url=settings.contacts_dlq_url,
        retry_base_seconds=settings.retry_base_seconds,
        max_receive_count=settings.max_receive_count,
        aws_call_seconds=AWS_CALL_SECONDS,
        attributes=workspace_attributes(),
    )


processor = ConcurrentBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> Done:
    logger.thread_safe_append_keys(correlation_id=record.message_id)
    return record_processor().process(record, deadline=intercom_deadline(lambda_context))


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not event.get("Records"):
        return {"batchItemFailures": []}  # Powertools refuses an empty batch; Lambda never sends one
    record_processor().creator.register(context)
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )


build_at_init(record_processor, _pool)  # the clients, the Intercom client and the idempotency layer
resume_garbage_collection()  # paused while this module loaded (handlers/__init__.py)
