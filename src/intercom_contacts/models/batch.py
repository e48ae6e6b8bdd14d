"""Batches: `POST /contacts/batch` queues up to 1,000 contacts for the worker, each answered on its own;
`GET /contacts/batch/{batch_id}` is the run log, each item's outcome and Intercom id;
`POST /contacts/batch/{batch_id}/retry` sends the failed ones again."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from intercom_contacts.models.contact import FieldError

MAX_BATCH_ITEMS = 1000
DEFAULT_PAGE_ITEMS = 100
BATCH_ID_PATTERN = re.compile(r"^[a-z2-7]{26}$")  # 128 bits in lowercase base32, no padding

ItemStatus = Literal["pending", "created", "existing", "updated", "failed", "rejected"]
ITEM_STATUSES: tuple[ItemStatus, ...] = ("pending", "created", "existing", "updated", "failed", "rejected")
FINAL_STATUSES = frozenset({"created", "existing", "updated", "failed"})


def batch_id_from(seed: bytes) -> str:
    """A batch id: the first 128 bits of the seed's SHA-256, in lowercase base32."""
    return base64.b32encode(hashlib.sha256(seed).digest()[:16]).decode().rstrip("=").lower()


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contacts: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description="Each item is a `POST /contacts` body; invalid items are rejected one by one",
    )


class BatchItemResult(BaseModel):
    index: int
    status: Literal["queued", "rejected", "failed"] = Field(
        description="queued: on its way to Intercom; rejected: invalid, fix and resend; "
        "failed: could not be queued, resend the batch with the same Idempotency-Key"
    )
    message_id: str | None = None
    code: str | None = None
    message: str | None = None
    fields: list[FieldError] | None = None


class BatchResponse(BaseModel):
    batch_id: str = Field(description="Follow it at GET /contacts/batch/{batch_id} (the Location header)")
    queued: int
    rejected: int
    failed: int
    items: list[BatchItemResult]


class BatchCounts(BaseModel):
    total: int
    pending: int = 0
    created: int = 0
    existing: int = 0
    updated: int = 0
    failed: int = 0
    rejected: int = 0


class RunLogItem(BaseModel):
    index: int = Field(description="The item's position in the posted `contacts`")
    status: ItemStatus = Field(
        description="pending: queued or being retried (`code`/`message` say its last error); "
        "failed: final, in the dead-letter queue with `code` as its ErrorCode; rejected: invalid at intake"
    )
    contact_id: str | None = Field(default=None, description="The Intercom contact's id")
    code: str | None = None
    message: str | None = None
    attempts: int = Field(description="How many times the worker has tried it")


class BatchRunLog(BaseModel):
    batch_id: str
    status: Literal["in_progress", "completed"] = Field(description="completed when no item is pending")
    submitted_at: str
    updated_at: str
    counts: BatchCounts
    items: list[RunLogItem]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page")


class RetryResponse(BaseModel):
    requeued: int = Field(description="Failed items sent back to the queue; they are pending again")
    remaining: int = Field(
        default=0, description="Failed items left for lack of time; call the retry again to requeue them"
    )


class Cursor(BaseModel):
    """Where a page of a batch's items ends. It travels as opaque text with a checksum, so a cursor
    that was cut or edited is refused rather than read as another position."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    after: int = Field(ge=-1, lt=MAX_BATCH_ITEMS)
    status: ItemStatus | None = None

    def encode(self) -> str:
        payload = json.dumps([self.batch_id, self.after, self.status], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(payload + _checksum(payload)).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor `text` stands for, or None when it is not one this service wrote."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            payload, checksum = raw[:-8], raw[-8:]
            if len(text) > 200 or _checksum(payload) != checksum:
                return None
            batch_id, after, status = json.loads(payload)
            return cls(batch_id=batch_id, after=after, status=status)
        except (ValueError, TypeError):  # binascii.Error, JSON and pydantic errors are all ValueErrors
            return None


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(b"run-log-cursor:" + payload).digest()[:8]
