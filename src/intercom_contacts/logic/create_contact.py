"""Create one contact, and decide what a duplicate means (the caller's `on_conflict`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intercom_contacts.errors import ContactConflict
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.models.contact import ContactRequest, OnConflict, Outcome
from intercom_contacts.observability import MetricUnit, metrics


@dataclass(frozen=True)
class ContactResult:
    contact: dict[str, Any]
    outcome: Outcome
    replayed: bool = False  # the stored first answer to a repeated idempotency key


def create_contact(
    request: ContactRequest, on_conflict: OnConflict, client: IntercomClient, *, deadline: float
) -> ContactResult:
    """Create the contact; on a duplicate user, return it, update it, or fail, as asked.

    An archived duplicate is unarchived first (except with `fail`), so the caller always gets back
    a contact that is live in Intercom.
    """
    body = request.to_intercom()
    try:
        contact = client.create_contact(body, deadline=deadline, dedupes=request.role == "user")
        return ContactResult(contact, Outcome.CREATED)
    except ContactConflict as conflict:
        metrics.add_metric(name="ContactConflicts", unit=MetricUnit.Count, value=1)
        if on_conflict is OnConflict.FAIL:
            raise
        existing_id = conflict.existing_id or _find_existing_id(request, client, conflict, deadline)
        if conflict.archived:
            client.unarchive_contact(existing_id, deadline=deadline)
        if on_conflict is OnConflict.UPDATE:
            return ContactResult(client.update_contact(existing_id, body, deadline=deadline), Outcome.UPDATED)
        return ContactResult(client.get_contact(existing_id, deadline=deadline), Outcome.EXISTING)


def _find_existing_id(
    request: ContactRequest, client: IntercomClient, conflict: ContactConflict, deadline: float
) -> str:
    """Intercom's 409 named no id: look the user up, or give up with the conflict itself."""
    found = client.find_user(email=request.email, external_id=request.external_id, deadline=deadline)
    if found and isinstance(found.get("id"), str):
        return str(found["id"])
    raise conflict
