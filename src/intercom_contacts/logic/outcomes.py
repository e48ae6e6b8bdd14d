"""What a contact's outcome leaves behind: its batch item's entry in the run log, and an event on the bus.

Events: `Contact Created`, `Contact Updated`, `Contact Existing`, `Contact Failed` for every final
outcome, from the API and from the worker, and `Batch Completed` when a batch has no pending item
left. The detail carries what a consumer needs to correlate and act, never the token nor the email.

Order matters for "at least once": the run log first, then the event, then (for a failure) the DLQ.
A step that fails raises, so its caller retries the whole record; the retry replays the contact
from the idempotency store and repeats the steps, each of them idempotent or conditional.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from intercom_contacts.events import EventPublisher
from intercom_contacts.models.batch import ITEM_STATUSES, BatchCounts
from intercom_contacts.models.messages import BatchItem
from intercom_contacts.run_log import Header, RunLog


@dataclass(frozen=True)
class Subject:
    """Which contact an outcome is about, as a consumer correlates it."""

    role: str | None = None
    external_id: str | None = None
    idempotency_key: str | None = None  # the caller's own, never a hash the service made up
    batch_item: BatchItem | None = None

    def detail(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "role": self.role,
            "external_id": self.external_id,
            "idempotency_key": self.idempotency_key,
        }
        if self.batch_item:
            fields.update(batch_id=self.batch_item.batch_id, index=self.batch_item.index)
        return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True)
class Outcomes:
    run_log: RunLog
    events: EventPublisher

    def finished(self, subject: Subject, outcome: str, contact: Mapping[str, Any]) -> None:
        """A contact was created, updated or found existing."""
        contact_id = contact.get("id") if isinstance(contact.get("id"), str) else None
        header = self._finish(subject, outcome, contact_id=contact_id)
        detail = {**subject.detail(), "contact_id": contact_id, "outcome": outcome}
        self.events.publish([(f"Contact {outcome.capitalize()}", detail)])
        self._announce_if_complete(header)

    def failed(self, subject: Subject, code: str, message: str) -> None:
        """A contact will not be created without help: it goes to the DLQ (worker) or the caller (API)."""
        header = self._finish(subject, "failed", code=code, reason=message)
        self.events.publish([("Contact Failed", {**subject.detail(), "code": code, "message": message})])
        self._announce_if_complete(header)

    def retrying(self, subject: Subject, code: str, message: str) -> None:
        """An attempt failed and the contact will be tried again: its batch item says why, meanwhile."""
        if subject.batch_item:
            self.run_log.note_retry(subject.batch_item.batch_id, subject.batch_item.index, code, message)

    def counts(self, batch_id: str, total: int) -> BatchCounts:
        """Each status's number of items, counted from the items themselves: exact whoever wrote them."""
        by_status = Counter(item.status for item in self.run_log.items(batch_id))
        return BatchCounts(total=total, **{status: by_status[status] for status in ITEM_STATUSES})

    def announce_if_complete(self, batch_id: str) -> None:
        self._announce_if_complete(self.run_log.header(batch_id))

    def _finish(
        self,
        subject: Subject,
        status: str,
        *,
        contact_id: str | None = None,
        code: str | None = None,
        reason: str | None = None,
    ) -> Header | None:
        if subject.batch_item is None:
            return None
        item = subject.batch_item
        return self.run_log.finish(
            item.batch_id, item.index, status, contact_id=contact_id, code=code, reason=reason
        )

    def _announce_if_complete(self, header: Header | None) -> None:
        """`Batch Completed`, once per completion: published before it is marked announced, so a crash
        in between publishes it again rather than never."""
        if header is None or not header.complete or header.announced_version >= header.version:
            return
        counts = self.counts(header.batch_id, header.total)
        detail = {
            "batch_id": header.batch_id,
            "submitted_at": header.submitted_at,
            "counts": counts.model_dump(),
            "completion": header.version,
        }
        self.events.publish([("Batch Completed", detail)])
        self.run_log.mark_announced(header.batch_id, header.version)
