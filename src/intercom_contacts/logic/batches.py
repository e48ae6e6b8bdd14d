"""Batches of contacts: queue them (each item validated on its own, nothing valid dropped for a bad
neighbour), show their run log, and send their failed items again.

A batch sent with an `Idempotency-Key` has an id derived from that key, so a resend finds its run log:
the items it already holds are kept, and only those still pending or refused by SQS are sent again
(a pending item sent twice is harmless: its message carries the same idempotency key). The run log's
header holds the hash of the body the key was first sent with; another body with that key is refused,
even when no answer was stored for the first (a 503).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from intercom_contacts import queues
from intercom_contacts.errors import (
    BatchNotFound,
    CustomAttributesRefused,
    IdempotencyKeyReused,
    InvalidCursor,
)
from intercom_contacts.logic.custom_attributes import Screen
from intercom_contacts.logic.outcomes import Outcomes, counts_of
from intercom_contacts.models.batch import (
    BATCH_ID_PATTERN,
    MAX_ITEM_FIELDS,
    BatchItemResult,
    BatchResponse,
    BatchRunLog,
    Cursor,
    ItemStatus,
    RetryResponse,
    RunLogItem,
    batch_fingerprint,
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
RETRY_ROUND = 100  # failed items a retry claims and sends before it checks the time left


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
        fingerprint = batch_fingerprint(contacts, on_conflict.value)
        recorded_header = self.run_log.start(batch_id, items, fingerprint=fingerprint)
        if recorded_header is None:
            sent = self._send(batch_id, {item.index: item.message for item in items if item.message})
        else:  # a resend: send again what is still pending, and what SQS refused last time
            if recorded_header.fingerprint not in (fingerprint, None) or recorded_header.total != len(items):
                raise IdempotencyKeyReused(
                    "This idempotency key was already used for a different batch; use a new key for each."
                )
            self.run_log.add_missing(recorded_header, items)
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

    def retry_failed(self, batch_id: str, *, deadline: float) -> RetryResponse:
        """Send the batch's failed items again, as they were first sent, RETRY_ROUND at a time while one
        more round fits before `deadline` (the first always runs, so each call makes progress)."""
        header = self.run_log.header(batch_id) if BATCH_ID_PATTERN.match(batch_id) else None
        if header is None:
            raise BatchNotFound(f"No batch {batch_id[:40]!r}; batches are kept 15 days.")
        failed = {
            item.index: item.message for item in self.run_log.items(batch_id, status="failed") if item.message
        }
        indexes = sorted(failed)
        requeued = tried = 0
        claimed_any, round_seconds = False, 0.0
        for start in range(0, len(indexes), RETRY_ROUND):
            if tried and time.monotonic() + round_seconds > deadline:
                break
            began = time.monotonic()
            chunk = {index: failed[index] for index in indexes[start : start + RETRY_ROUND]}
            sent = self._send_again(batch_id, chunk, new_version=not claimed_any)
            claimed_any = claimed_any or bool(sent)
            requeued += sum(result.message_id is not None for result in sent.values())
            tried += len(chunk)
            round_seconds = time.monotonic() - began
        return RetryResponse(requeued=requeued, remaining=len(indexes) - tried)

    def _send_again(
        self, batch_id: str, failed: dict[int, OutgoingMessage], *, new_version: bool = True
    ) -> dict[int, queues.SendResult]:
        """Failed items back to the queue, each by the one caller whose claim wins it: pending before it
        is sent (so the batch cannot be announced complete meanwhile), failed again if SQS refuses it.
        Returns the results of the items this call claimed; `new_version`: a completion to announce."""
        claim = secrets.token_urlsafe(12)
        claimed = self.run_log.claim(batch_id, sorted(failed), claim, new_version=new_version)
        sent = self._deliver({index: failed[index] for index in claimed})
        refused = {index: _refusal(result) for index, result in sent.items() if not result.message_id}
        if refused:
            self.run_log.release(batch_id, refused, claim, QUEUE_SEND_FAILED)
            self.outcomes.announce_if_complete(batch_id)  # the refused items may have been the last pending
        return sent

    def _send(self, batch_id: str, messages: dict[int, OutgoingMessage]) -> dict[int, queues.SendResult]:
        """Send; an item SQS refused is marked failed (a resend or a retry queues it)."""
        results = self._deliver(messages)
        for index, result in results.items():
            if not result.message_id:
                self.run_log.finish(
                    Finish(batch_id, index, "failed", None, QUEUE_SEND_FAILED, _refusal(result), False)
                )
        return results

    def _deliver(self, messages: dict[int, OutgoingMessage]) -> dict[int, queues.SendResult]:
        """Send concurrently; each item's result, whether SQS took it or not."""
        indexes = sorted(messages)
        chunks = [indexes[start : start + SEND_CHUNK] for start in range(0, len(indexes), SEND_CHUNK)]

        def send(chunk: list[int]) -> list[tuple[int, queues.SendResult]]:
            sent = queues.send_batch(self.sqs, self.queue_url, [messages[index] for index in chunk])
            return list(zip(chunk, sent, strict=True))

        with ThreadPoolExecutor(max_workers=PARALLEL_SENDS, thread_name_prefix="enqueue") as pool:
            return dict(pair for chunk in pool.map(send, chunks) for pair in chunk)


def _refusal(result: queues.SendResult) -> str:
    return f"SQS did not accept the message ({result.error}); resend the batch or retry it."


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
        # Named in full once each, but at most MAX_ITEM_FIELDS of them and each cut to 100 characters:
        # unknown fields are the caller's own names, and the whole answer must fit in the idempotency store
        problems = field_errors(error.errors())
        names = list(dict.fromkeys(field.field[:100] for field in problems))
        fields = [
            FieldError(field=field.field[:100], message=field.message[:200])
            for field in problems[:MAX_ITEM_FIELDS]
        ]
        more = f" and {len(names) - MAX_ITEM_FIELDS} more" if len(names) > MAX_ITEM_FIELDS else ""
        reason = f"Invalid fields: {', '.join(names[:MAX_ITEM_FIELDS])}{more}."
        return NewItem(index, "rejected", code="VALIDATION_ERROR", reason=reason), fields
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
        **(json.loads(item.steps) if item.steps else {}),
    )
