"""Batches of contacts: queue them (each item validated on its own, nothing valid dropped for a bad
neighbour), show their run log, and send their failed items again.

A batch sent with an `Idempotency-Key` has an id derived from that key, so a resend finds its run log:
the items it already holds are kept, and only those still pending or refused by SQS are sent again
(a pending item sent twice is harmless: its message carries the same idempotency key).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from intercom_contacts import queues
from intercom_contacts.errors import BatchNotFound, CustomAttributesRefused, InvalidCursor
from intercom_contacts.logic.custom_attributes import Screen
from intercom_contacts.logic.outcomes import Outcomes, counts_of
from intercom_contacts.models.batch import (
    BATCH_ID_PATTERN,
    BatchItemResult,
    BatchResponse,
    BatchRunLog,
    Cursor,
    ItemStatus,
    RunLogItem,
    batch_id_from,
)
from intercom_contacts.models.contact import ContactRequest, FieldError, OnConflict, field_errors
from intercom_contacts.models.messages import BatchItem, OutgoingMessage, item_idempotency_key, to_message
from intercom_contacts.run_log import Finish, Item, NewItem, RunLog

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

QUEUE_SEND_FAILED = "QUEUE_SEND_FAILED"
SEND_CHUNK = 50  # messages a thread sends (five SendMessageBatch calls)
PARALLEL_SENDS = 16


@dataclass(frozen=True)
class Batches:
    run_log: RunLog
    outcomes: Outcomes
    sqs: SQSClient
    queue_url: str

    def submit(
        self,
        contacts: Sequence[Any],
        on_conflict: OnConflict,
        idempotency_key: str | None,
        screen: Screen | None = None,
    ) -> BatchResponse:
        """Record the batch in the run log, then queue its valid items; SQS's refusals are reported.
        `screen` checks and converts each valid item's custom attributes (logic/custom_attributes.py)."""
        seed = b"key:" + idempotency_key.encode() if idempotency_key else secrets.token_bytes(32)
        batch_id = batch_id_from(seed)
        checked = [
            _checked(batch_id, index, body, on_conflict, idempotency_key, screen=screen)
            for index, body in enumerate(contacts)
        ]
        items = [item for item, _ in checked]
        if self.run_log.start(batch_id, items):
            sent = self._send(batch_id, {item.index: item.message for item in items if item.message})
        else:  # a resend: send again what is still pending, and what SQS refused last time
            recorded = list(self.run_log.items(batch_id))
            pending = {
                item.index: item.message for item in recorded if item.status == "pending" and item.message
            }
            refused_before = {
                item.index: item.message
                for item in recorded
                if item.status == "failed" and item.code == QUEUE_SEND_FAILED and item.message
            }
            sent = {**self._send(batch_id, pending), **self._send_again(batch_id, refused_before)}
        self.outcomes.announce_if_complete(batch_id)  # when nothing was sent: every item was rejected
        results = [_result(item, fields, sent) for item, fields in checked]
        return BatchResponse(
            batch_id=batch_id,
            queued=sum(result.status == "queued" for result in results),
            rejected=sum(result.status == "rejected" for result in results),
            failed=sum(result.status == "failed" for result in results),
            items=results,
        )

    def run_log_page(
        self, batch_id: str, *, status: ItemStatus | None, limit: int, cursor: str | None
    ) -> BatchRunLog:
        """The batch's counts and one page of its items, in index order."""
        header = self.run_log.header(batch_id) if BATCH_ID_PATTERN.match(batch_id) else None
        if header is None:
            raise BatchNotFound(f"No batch {batch_id[:40]!r}; batches are kept 15 days.")
        after = -1
        if cursor is not None:
            position = Cursor.decode(cursor)
            if position is None or (position.batch_id, position.status) != (batch_id, status):
                raise InvalidCursor(
                    "The cursor is not one this batch's pages gave; start again without a cursor."
                )
            after = position.after
        page = list(
            islice(self.run_log.items(batch_id, after=after, status=status, limit=limit + 1), limit + 1)
        )
        more = len(page) > limit
        page = page[:limit]
        counts = counts_of(header)
        return BatchRunLog(
            batch_id=batch_id,
            status="in_progress" if counts.pending else "completed",
            submitted_at=header.submitted_at,
            updated_at=header.updated_at,
            counts=counts,
            items=[_view(item) for item in page],
            next_cursor=Cursor(batch_id=batch_id, after=page[-1].index, status=status).encode()
            if more
            else None,
        )

    def retry_failed(self, batch_id: str) -> int:
        """Send every failed item of the batch again, as it was first sent; returns how many."""
        header = self.run_log.header(batch_id) if BATCH_ID_PATTERN.match(batch_id) else None
        if header is None:
            raise BatchNotFound(f"No batch {batch_id[:40]!r}; batches are kept 15 days.")
        failed = {
            item.index: item.message for item in self.run_log.items(batch_id, status="failed") if item.message
        }
        sent = self._send_again(batch_id, failed)
        return sum(result.message_id is not None for result in sent.values())

    def _send_again(self, batch_id: str, failed: dict[int, OutgoingMessage]) -> dict[int, queues.SendResult]:
        """Failed items back to the queue: no longer counted finished before they are sent (so the batch
        cannot be announced complete meanwhile), pending once SQS has them."""
        for index in failed:
            self.run_log.reopen(batch_id, index)
        sent = self._send(batch_id, failed)
        for index, result in sent.items():
            if result.message_id:
                self.run_log.requeued(batch_id, index)
        return sent

    def _send(self, batch_id: str, messages: dict[int, OutgoingMessage]) -> dict[int, queues.SendResult]:
        """Send concurrently; an item SQS refused is marked failed (a resend or a retry queues it)."""
        indexes = sorted(messages)
        chunks = [indexes[start : start + SEND_CHUNK] for start in range(0, len(indexes), SEND_CHUNK)]

        def send(chunk: list[int]) -> list[tuple[int, queues.SendResult]]:
            sent = queues.send_batch(self.sqs, self.queue_url, [messages[index] for index in chunk])
            return list(zip(chunk, sent, strict=True))

        with ThreadPoolExecutor(max_workers=PARALLEL_SENDS, thread_name_prefix="enqueue") as pool:
            results = dict(pair for chunk in pool.map(send, chunks) for pair in chunk)
        for index, result in results.items():
            if not result.message_id:
                reason = f"SQS did not accept the message ({result.error}); resend the batch or retry it."
                self.run_log.finish(Finish(batch_id, index, "failed", None, QUEUE_SEND_FAILED, reason, False))
        return results


def _checked(
    batch_id: str,
    index: int,
    body: Any,
    on_conflict: OnConflict,
    batch_key: str | None,
    *,
    screen: Screen | None,
) -> tuple[NewItem, list[FieldError]]:
    """The item as the run log records it, and the fields to fix when it is invalid."""
    try:
        request = ContactRequest.model_validate(body)
        request = screen(request) if screen else request
    except ValidationError as error:
        fields = field_errors(error.errors())
        names = ", ".join(dict.fromkeys(field.field for field in fields))
        return NewItem(index, "rejected", code="VALIDATION_ERROR", reason=f"Invalid fields: {names}."), fields
    except CustomAttributesRefused as refused:
        fields = [FieldError(field=name, message=problem) for name, problem in refused.fields]
        return NewItem(index, "rejected", code=refused.code, reason=refused.message), fields
    message = to_message(
        request, on_conflict, item_idempotency_key(batch_key, index), BatchItem(batch_id, index)
    )
    item = NewItem(index, "pending", message=message, role=request.role, external_id=request.external_id)
    return item, []


def _result(item: NewItem, fields: list[FieldError], sent: dict[int, queues.SendResult]) -> BatchItemResult:
    if item.status == "rejected":
        return BatchItemResult(
            index=item.index, status="rejected", code=item.code, message=item.reason, fields=fields
        )
    result = sent.get(item.index)
    if result is not None and not result.message_id:
        return BatchItemResult(
            index=item.index,
            status="failed",
            code=QUEUE_SEND_FAILED,
            message=f"SQS did not accept the message ({result.error}); resend this batch with the same key.",
        )
    return BatchItemResult(
        index=item.index, status="queued", message_id=result.message_id if result else None
    )


def _view(item: Item) -> RunLogItem:
    return RunLogItem(
        index=item.index,
        status=item.status,
        contact_id=item.contact_id,
        code=item.code,
        message=item.reason,
        attempts=item.attempts,
    )
