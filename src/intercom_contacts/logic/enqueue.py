"""Validate each contact of a batch and queue the valid ones; nothing valid is dropped for a bad neighbour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from intercom_contacts import queues
from intercom_contacts.models.batch import BatchItemResult, BatchResponse
from intercom_contacts.models.contact import ContactRequest, OnConflict, field_errors
from intercom_contacts.models.messages import OutgoingMessage, item_idempotency_key, to_message

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def enqueue_contacts(
    items: Sequence[Any],
    on_conflict: OnConflict,
    idempotency_key: str | None,
    *,
    sqs: SQSClient,
    queue_url: str,
) -> BatchResponse:
    results: dict[int, BatchItemResult] = {}
    outgoing: list[tuple[int, OutgoingMessage]] = []
    for index, item in enumerate(items):
        try:
            request = ContactRequest.model_validate(item)
        except ValidationError as error:
            fields = field_errors(error.errors())
            results[index] = BatchItemResult(
                index=index,
                status="rejected",
                code="VALIDATION_ERROR",
                message=f"Invalid fields: {', '.join(dict.fromkeys(f.field for f in fields))}.",
                fields=fields,
            )
            continue
        outgoing.append(
            (index, to_message(request, on_conflict, item_idempotency_key(idempotency_key, index)))
        )

    sent = queues.send_batch(sqs, queue_url, [message for _, message in outgoing])
    for (index, _), result in zip(outgoing, sent, strict=True):
        if result.message_id:
            results[index] = BatchItemResult(index=index, status="queued", message_id=result.message_id)
        else:
            results[index] = BatchItemResult(
                index=index,
                status="failed",
                code="QUEUE_SEND_FAILED",
                message=f"SQS did not accept the message ({result.error}); resend this contact.",
            )
    ordered = [results[index] for index in range(len(items))]
    return BatchResponse(
        queued=sum(r.status == "queued" for r in ordered),
        rejected=sum(r.status == "rejected" for r in ordered),
        failed=sum(r.status == "failed" for r in ordered),
        items=ordered,
    )
