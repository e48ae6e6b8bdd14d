"""`POST /contacts/batch`: up to 1,000 contacts queued for the worker, each answered on its own."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from intercom_contacts.models.contact import FieldError

MAX_BATCH_ITEMS = 1000


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
        "failed: could not be queued, resend it"
    )
    message_id: str | None = None
    code: str | None = None
    message: str | None = None
    fields: list[FieldError] | None = None


class BatchResponse(BaseModel):
    queued: int
    rejected: int
    failed: int
    items: list[BatchItemResult]
