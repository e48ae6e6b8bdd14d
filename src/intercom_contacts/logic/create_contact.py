"""Create one contact, decide what a duplicate means (the caller's `on_conflict`), and tell the
contacts this request created itself from the ones that were there before.

A request whose answer was lost may have created its contact anyway. A user is sent again and meets
Intercom's 409: if the existing user was created after this request was first sent and holds what
was sent, it is this request's own creation and is answered as created. A lead is never sent again
(Intercom would create a second one): it is looked up by email among the leads created since it was
sent, and when search has not shown it yet, its outcome stays unknown.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from intercom_contacts.errors import ContactConflict, ContactError, OutcomeUnknown
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.models.contact import ContactRequest, OnConflict, Outcome
from intercom_contacts.observability import MetricUnit, logger, metrics

# Intercom stamps `created_at` in whole seconds on its own clock: allow for both.
CLOCK_SKEW_SECONDS = 10
# How long one attempt keeps asking Intercom's search (eventually consistent) for a lead it sent.
LOOKUP_BUDGET_SECONDS = 20.0
LOOKUP_FIRST_WAIT_SECONDS = 1.0
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class ContactResult:
    contact: dict[str, Any]
    outcome: Outcome
    replayed: bool = False  # the stored first answer to a repeated idempotency key


def create_contact(
    request: ContactRequest,
    on_conflict: OnConflict,
    client: IntercomClient,
    *,
    deadline: float,
    sent_before: float | None = None,
) -> ContactResult:
    """Create the contact; on a duplicate user, return it, update it, or fail, as asked.

    `sent_before` is when an earlier attempt with the same idempotency key sent this contact without
    recording the outcome (it died first): a lead is then only looked up, a user sent again.
    An archived duplicate is unarchived first (except with `fail`), so the caller always gets back
    a contact that is live in Intercom.
    """
    if request.role == "lead":
        return _create_lead(request, client, deadline=deadline, sent_before=sent_before)
    body = request.to_intercom()
    try:
        return ContactResult(
            client.create_contact(body, deadline=deadline, resend_after_loss=True), Outcome.CREATED
        )
    except ContactConflict as conflict:
        metrics.add_metric(name="ContactConflicts", unit=MetricUnit.Count, value=1)
        since = conflict.sent_at if conflict.sent_at is not None else sent_before
        if since is not None and (own := _own_user(request, conflict, client, since, deadline)):
            return ContactResult(own, Outcome.CREATED)
        if on_conflict is OnConflict.FAIL:
            raise
        existing_id = conflict.existing_id or _existing_user_id(request, client, conflict, deadline)
        if conflict.archived:
            client.unarchive_contact(existing_id, deadline=deadline)
        if on_conflict is OnConflict.UPDATE:
            return ContactResult(client.update_contact(existing_id, body, deadline=deadline), Outcome.UPDATED)
        return ContactResult(client.get_contact(existing_id, deadline=deadline), Outcome.EXISTING)


def _create_lead(
    request: ContactRequest, client: IntercomClient, *, deadline: float, sent_before: float | None
) -> ContactResult:
    """Intercom does not deduplicate leads: one that may have been created is looked up, never resent."""
    if sent_before is not None:
        logger.warning("an earlier attempt sent this lead: looking it up", extra={"sent_at": sent_before})
        return _look_up_lead(request, client, since=sent_before, deadline=deadline)
    body = request.to_intercom()
    try:
        return ContactResult(
            client.create_contact(body, deadline=deadline, resend_after_loss=False), Outcome.CREATED
        )
    except OutcomeUnknown as unknown:
        logger.warning("a lead's answer was lost: looking it up", extra={"sent_at": unknown.sent_at})
        return _look_up_lead(request, client, since=unknown.sent_at, deadline=deadline)


def _own_user(
    request: ContactRequest, conflict: ContactConflict, client: IntercomClient, since: float, deadline: float
) -> dict[str, Any] | None:
    """The existing user, if this request's earlier attempt is what created it."""
    if conflict.archived:
        return None
    existing_id = conflict.existing_id or _existing_user_id(request, client, conflict, deadline)
    contact = client.get_contact(existing_id, deadline=deadline)
    return contact if _created_by(contact, request.to_intercom(), since) else None


def _look_up_lead(
    request: ContactRequest, client: IntercomClient, *, since: float, deadline: float
) -> ContactResult:
    """The lead this request sent at `since`, found by email among the leads created since then.

    Search is eventually consistent: it is asked again with growing waits while the budget lasts. Not
    found, whatever the reason (search failing included), is OutcomeUnknown: never a resend.
    """
    body = request.to_intercom()
    query = {
        "operator": "AND",
        "value": [
            {"field": "role", "operator": "=", "value": "lead"},
            {"field": "email", "operator": "=", "value": request.email},
            {"field": "created_at", "operator": ">", "value": _day_before(since - CLOCK_SKEW_SECONDS)},
        ],
    }
    give_up = min(deadline, time.monotonic() + LOOKUP_BUDGET_SECONDS)
    wait = LOOKUP_FIRST_WAIT_SECONDS
    while True:
        try:
            found = client.search_contacts(query, deadline=deadline)
        except ContactError:  # search failed this time: it cannot tell either way, so keep looking
            found = []
        mine = sorted(
            (contact for contact in found if _created_by(contact, body, since)),
            key=lambda contact: int(contact.get("created_at") or 0),
        )
        if mine:
            metrics.add_metric(name="LostAnswersRecovered", unit=MetricUnit.Count, value=1)
            return ContactResult(mine[0], Outcome.CREATED)
        if time.monotonic() + wait >= give_up:
            raise OutcomeUnknown(
                "The lead was sent to Intercom but whether it was created cannot be told yet: its answer "
                "was lost and Intercom's search does not show it. It is never sent again; trying later "
                "looks it up again. If it stays unknown, check Intercom.",
                sent_at=since,
            )
        time.sleep(wait)
        wait *= 2


def _day_before(moment: float) -> int:
    """A timestamp to search `created_at >` with, for contacts created from `moment`'s day on: Intercom's
    search compares timestamps by calendar day (UTC), and `>` a day means from the next day."""
    return int(moment) // DAY_SECONDS * DAY_SECONDS - DAY_SECONDS


def _created_by(contact: Mapping[str, Any], sent: Mapping[str, Any], since: float) -> bool:
    """Whether `contact` is what a request that sent `sent` at `since` created."""
    created_at = contact.get("created_at")
    if not isinstance(created_at, int) or created_at < int(since) - CLOCK_SKEW_SECONDS:
        return False
    if contact.get("role") != sent["role"]:
        return False
    for field in ("external_id", "name"):  # not phone: Intercom may store it normalised
        if field in sent and contact.get(field) != sent[field]:
            return False
    email = sent.get("email")
    return email is None or str(contact.get("email") or "").lower() == email.lower()


def _existing_user_id(
    request: ContactRequest, client: IntercomClient, conflict: ContactConflict, deadline: float
) -> str:
    """Intercom's 409 named no id: look the user up (by external_id, else by email), or give up with
    the conflict itself. Search is eventually consistent, but an existing duplicate is old enough."""
    field, value = ("external_id", request.external_id) if request.external_id else ("email", request.email)
    query = {
        "operator": "AND",
        "value": [
            {"field": "role", "operator": "=", "value": "user"},
            {"field": field, "operator": "=", "value": value},
        ],
    }
    found = client.search_contacts(query, deadline=deadline)
    if found and isinstance(found[0].get("id"), str):
        return str(found[0]["id"])
    raise conflict
