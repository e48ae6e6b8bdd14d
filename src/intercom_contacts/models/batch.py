"""Batches: `POST /contacts/batch` queues up to 1,000 contacts for the worker, each answered on its own;
`GET /contacts/batch/{batch_id}` is the run log, each item's outcome and Intercom id;
`POST /contacts/batch/{batch_id}/retry` sends the failed ones again."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from intercom_contacts.models import strict_json
from intercom_contacts.models.contact import CompanyDone, FieldError, TagDone

MAX_BATCH_ITEMS = 1000
MAX_ITEM_FIELDS = 10  # fields named per rejected item: 1,000 items' answer stays small enough to store
DEFAULT_PAGE_ITEMS = 100
BATCH_ID_PATTERN = re.compile(r"^[a-z2-7]{26}$")  # 128 bits in lowercase base32, no padding

ItemStatus = Literal["pending", "created", "existing", "updated", "failed", "rejected"]
ITEM_STATUSES: tuple[ItemStatus, ...] = ("pending", "created", "existing", "updated", "failed", "rejected")
FINAL_STATUSES = frozenset({"created", "existing", "updated", "failed"})


def batch_id_from(seed: bytes) -> str:
    """A batch id: the first 128 bits of the seed's SHA-256, in lowercase base32."""
    return base64.b32encode(hashlib.sha256(seed).digest()[:16]).decode().rstrip("=").lower()


def batch_fingerprint(contacts: Any, on_conflict: str) -> str:
    """What an Idempotency-Key is bound to: the posted contacts and on_conflict, however spelled."""
    canonical = strict_json.canonical([contacts, on_conflict])
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


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
    fields: list[FieldError] | None = Field(
        default=None, description=f"The fields to fix, at most {MAX_ITEM_FIELDS} (`message` counts them all)"
    )


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
    companies: list[CompanyDone] | None = Field(
        default=None, description="The companies attached to the contact, when it asked for some"
    )
    tags: list[TagDone] | None = Field(default=None, description="The tags applied, when it asked for some")
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
    """Where a page of a batch's items ends, as plain text: `<batch_id>.<after>[.<status>]`.

    Not a secret and not signed: it only names a position in a batch that its holder can already read
    from the first page on, so a made-up cursor shows nothing a walk through the pages would not. It is
    checked strictly instead: a cursor that is not exactly one of this batch's and this filter's is
    refused, never read as something else."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    after: int = Field(ge=0, lt=MAX_BATCH_ITEMS)
    status: ItemStatus | None = None

    def encode(self) -> str:
        return ".".join([self.batch_id, str(self.after), *([self.status] if self.status else [])])

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor `text` stands for, or None when it is not one this service writes."""
        match = _CURSOR.fullmatch(text)
        if match is None:
            return None
        return cls(batch_id=match["batch_id"], after=int(match["after"]), status=match["status"])


_CURSOR = re.compile(
    rf"(?P<batch_id>[a-z2-7]{{26}})\.(?P<after>0|[1-9][0-9]{{0,2}})(?:\.(?P<status>{'|'.join(ITEM_STATUSES)}))?"
)
