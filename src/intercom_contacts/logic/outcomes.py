"""What a contact's outcome leaves behind: its batch item's entry in the run log, and an event on the bus.

Events: `Contact Created`, `Contact Updated`, `Contact Existing`, `Contact Failed` for every final
outcome, from the API and from the worker, and `Batch Completed` when a batch has no pending item
left. The detail carries what a consumer needs to correlate and act, never the token nor the email.

Order matters for "at least once": the run log first, then the events, then (for a failure) the DLQ.
A step that fails raises, so its caller retries the whole record; the retry replays the contact
from the idempotency store and repeats the steps, each of them idempotent or conditional. The worker
settles the outcomes of a whole invocation together: one run-log write per item, then per batch one
header write per status and one read of the items back (run_log.py), one PutEvents call per ten events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intercom_contacts.events import EventPublisher
from intercom_contacts.models.batch import ITEM_STATUSES, BatchCounts
from intercom_contacts.models.contact import ContactRequest
from intercom_contacts.models.messages import BatchItem
from intercom_contacts.run_log import Finish, Header, RunLog

STEP_FIELDS = ("companies", "tags")  # what logic/contact_steps.py adds to a contact's answer
MESSAGE_CHARACTERS = 1000  # a failure's message, as the run log and the DLQ keep it


@dataclass(frozen=True)
class Subject:
    """Which contact an outcome is about, as a consumer correlates it."""

    role: str | None = None
    external_id: str | None = None
    idempotency_key: str | None = None  # the caller's own, never a hash the service made up
    batch_item: BatchItem | None = None
    companies: tuple[str, ...] = ()  # the company_ids it asked to be attached to
    tags: tuple[str, ...] = ()  # the tag names it asked for

    @classmethod
    def of(
        cls, request: ContactRequest, idempotency_key: str | None, batch_item: BatchItem | None = None
    ) -> Subject:
        return cls(
            role=request.role,
            external_id=request.external_id,
            idempotency_key=idempotency_key,
            batch_item=batch_item,
            companies=tuple(company.company_id for company in request.companies or ()),
            tags=tuple(request.tags or ()),
        )

    def detail(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "role": self.role,
            "external_id": self.external_id,
            "idempotency_key": self.idempotency_key,
            "companies": list(self.companies) or None,
            "tags": list(self.tags) or None,
        }
        if self.batch_item:
            fields.update(batch_id=self.batch_item.batch_id, index=self.batch_item.index)
        return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True)
class Settled:
    """A final outcome: `status` is created, existing or updated (with the contact), or failed (with
    the reason, and the contact when it exists: a company or a tag failed after it)."""

    subject: Subject
    status: str
    contact: Mapping[str, Any] | None = None
    code: str | None = None
    message: str | None = None

    @property
    def contact_id(self) -> str | None:
        found = (self.contact or {}).get("id")
        return found if isinstance(found, str) else None

    @property
    def steps(self) -> str | None:
        """The companies and tags done (logic/contact_steps.py, which puts its lists in the contact's
        answer in place of Intercom's), as the run log keeps them; None when none were asked for."""
        if self.status == "failed" or self.contact is None:
            return None
        done = {name: self.contact[name] for name in STEP_FIELDS if getattr(self.subject, name)}
        return json.dumps(done, separators=(",", ":")) if done else None

    def event(self) -> tuple[str, dict[str, Any]]:
        if self.status == "failed":
            # Cut as the run log and the DLQ cut it: a message may name every field of a huge body, and
            # ten events must fit in one PutEvents call (256 KiB)
            message = self.message[:MESSAGE_CHARACTERS] if self.message else self.message
            failed = {**self.subject.detail(), "code": self.code, "message": message}
            if self.contact_id:
                failed["contact_id"] = self.contact_id
            return "Contact Failed", failed
        detail = {**self.subject.detail(), "contact_id": self.contact_id, "outcome": self.status}
        return f"Contact {self.status.capitalize()}", detail


@dataclass(frozen=True)
class Outcomes:
    run_log: RunLog
    events: EventPublisher

    def settle(self, outcomes: Sequence[Settled]) -> None:
        """Record the batch items' outcomes, then announce every outcome and each batch completed."""
        finishes = [
            Finish(
                item.subject.batch_item.batch_id,
                item.subject.batch_item.index,
                item.status,
                contact_id=item.contact_id,
                code=item.code,
                reason=item.message,
                steps=item.steps,
            )
            for item in outcomes
            if item.subject.batch_item is not None
        ]
        headers = self.run_log.finish_many(finishes)
        completed = [header for header in headers if _newly_complete(header)]
        events = [item.event() for item in outcomes] + [self._completion(header) for header in completed]
        self.events.publish(events)
        for header in completed:
            self.run_log.mark_announced(header.batch_id, header.version)

    def finished(self, subject: Subject, outcome: str, contact: Mapping[str, Any]) -> None:
        """A contact was created, updated or found existing."""
        self.settle([Settled(subject, outcome, contact=contact)])

    def failed(self, subject: Subject, code: str, message: str, *, contact_id: str | None = None) -> None:
        """A contact will not be created without help, or a company or tag not done for the contact
        `contact_id`: it goes to the DLQ (worker) or the caller (API)."""
        contact = {"id": contact_id} if contact_id else None
        self.settle([Settled(subject, "failed", contact=contact, code=code, message=message)])

    def retrying(self, subject: Subject, code: str, message: str, *, contact_id: str | None = None) -> None:
        """An attempt failed and the contact will be tried again: its batch item says why, meanwhile, and
        which contact exists when a company or tag step failed after it."""
        if subject.batch_item:
            batch_item = subject.batch_item
            self.run_log.note_retry(
                batch_item.batch_id, batch_item.index, code, message, contact_id=contact_id
            )

    def announce_if_complete(self, batch_id: str) -> None:
        header = self.run_log.header(batch_id)
        if header is not None and _newly_complete(header):
            self.events.publish([self._completion(header)])
            self.run_log.mark_announced(header.batch_id, header.version)

    def _completion(self, header: Header) -> tuple[str, dict[str, Any]]:
        """`Batch Completed`, published before it is marked announced: a crash in between publishes it
        again rather than never."""
        detail = {
            "batch_id": header.batch_id,
            "submitted_at": header.submitted_at,
            "counts": counts_of(header).model_dump(),
            "completion": header.version,
        }
        return "Batch Completed", detail


def counts_of(header: Header) -> BatchCounts:
    """Each status's number of items, as the header's sets say: each write brings an index's set in
    line with its item's status, so they are exact once the item's writers are done."""
    return BatchCounts(total=header.total, **{status: header.count(status) for status in ITEM_STATUSES})


def _newly_complete(header: Header) -> bool:
    return header.complete and header.announced_version < header.version
