"""Create one contact, decide what a duplicate means (the caller's `on_conflict`), and tell the
contacts this request created itself from the ones that were there before.

A request whose answer was lost may have created its contact anyway. A user is sent again and meets
Intercom's 409: if the existing user was created after this request was first sent and holds what
was sent, it is this request's own creation and is answered as created. A lead is not sent again
while it may exist (Intercom would create a second one): it is looked up by email among the leads
created since it was sent. Search runs minutes behind, so not finding it proves nothing until the
lookup window has passed since the lead was last possibly sent; a search asked after that which still
does not show it is the evidence that it was not created, and only then is it sent again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from intercom_contacts.errors import ContactConflict, ContactError, OutcomeUnknown
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.models.contact import ContactRequest, OnConflict, Outcome
from intercom_contacts.observability import MetricUnit, logger, metrics
from intercom_contacts.sends import JournalEntry, Sent, SentBefore

# Intercom stamps `created_at` in whole seconds on its own clock: allow for both.
CLOCK_SKEW_SECONDS = 10
# How long one attempt keeps asking Intercom's search (eventually consistent) for a lead it sent.
LOOKUP_BUDGET_SECONDS = 20.0
LOOKUP_FIRST_WAIT_SECONDS = 1.0
LOOKUP_PAGE_SIZE = 150  # Intercom's largest page: only a page with room to spare shows every match
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
    lookup_window: float,
    journal: JournalEntry | None = None,
) -> ContactResult:
    """Create the contact; on a duplicate user, return it, update it, or fail, as asked.

    `journal` (with an idempotency key) records the send just before it leaves, and tells when an
    earlier attempt with the same key sent this contact without recording the outcome (it died
    first): a lead is then looked up, a user sent again. `lookup_window` is how long after a lead was
    last possibly sent search must show it if it was created.
    An archived duplicate is unarchived first (except with `fail`), so the caller always gets back
    a contact that is live in Intercom.
    """
    if request.role == "lead":
        return _create_lead(request, client, deadline=deadline, journal=journal, window=lookup_window)
    body = request.to_intercom()
    earlier: list[Sent] = []

    def record_send() -> None:  # a user is sent whatever the journal holds: Intercom answers a repeat 409
        if journal is not None:
            try:
                journal.claim(last_send_by=_wall_clock(deadline))
            except SentBefore as sent:
                earlier.append(sent.earlier)

    try:
        return ContactResult(
            client.create_contact(body, deadline=deadline, resend_after_loss=True, on_send=record_send),
            Outcome.CREATED,
        )
    except ContactConflict as conflict:
        metrics.add_metric(name="ContactConflicts", unit=MetricUnit.Count, value=1)
        since = conflict.sent_at if conflict.sent_at is not None else next((e.sent_at for e in earlier), None)
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
    request: ContactRequest,
    client: IntercomClient,
    *,
    deadline: float,
    journal: JournalEntry | None,
    window: float,
) -> ContactResult:
    """Send the lead; when it may have been created (an earlier attempt sent it, or this one lost the
    answer), look it up, and send it again only with evidence that it was not created."""
    replacing: Sent | None = None
    while isinstance(
        sent := _send_lead(request, client, deadline=deadline, journal=journal, replacing=replacing), Sent
    ):
        found = _look_up_lead(request, client, sent=sent, window=window, deadline=deadline)
        if found is not None:
            return found
        logger.warning(
            "search does not show a lead sent before the lookup window: sending it again",
            extra={"sent_at": sent.sent_at, "window_seconds": window},
        )
        metrics.add_metric(name="LeadsSentAgain", unit=MetricUnit.Count, value=1)
        replacing = sent
    return sent


def _send_lead(
    request: ContactRequest,
    client: IntercomClient,
    *,
    deadline: float,
    journal: JournalEntry | None,
    replacing: Sent | None,
) -> ContactResult | Sent:
    """The lead Intercom created, or the send whose outcome is unknown: an earlier attempt's (nothing
    is sent now), or this one's, whose answer was lost."""
    last_send_by = _wall_clock(deadline)  # no attempt of this invocation leaves later
    claimed: list[Sent] = []

    def record_send() -> None:
        if journal is not None:
            claimed.append(journal.claim(last_send_by=last_send_by, replacing=replacing))

    try:
        contact = client.create_contact(
            request.to_intercom(), deadline=deadline, resend_after_loss=False, on_send=record_send
        )
    except SentBefore as sent:
        logger.warning(
            "an earlier attempt sent this lead: looking it up", extra={"sent_at": sent.earlier.sent_at}
        )
        return sent.earlier
    except OutcomeUnknown as unknown:
        logger.warning("a lead's answer was lost: looking it up", extra={"sent_at": unknown.sent_at})
        return claimed[0] if claimed else Sent("", unknown.sent_at, last_send_by)
    except ContactError:
        if journal is not None and claimed:
            journal.release(claimed[0])  # Intercom's answer shows it created nothing, or nothing left
        raise
    return ContactResult(contact, Outcome.CREATED)


def _wall_clock(deadline: float) -> float:
    """`deadline` (a time.monotonic() instant) on the wall clock, which outlives the invocation."""
    return time.time() + (deadline - time.monotonic())


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
    request: ContactRequest, client: IntercomClient, *, sent: Sent, window: float, deadline: float
) -> ContactResult | None:
    """The lead `sent` created, found by email among the leads created since it was sent; or None when
    a search asked `window` seconds after its last possible send succeeded without showing it.

    Search is eventually consistent: it is asked again with growing waits while the budget lasts. A
    search that fails tells nothing either way. Neither found nor shown absent is OutcomeUnknown, with
    the time until the window has passed as its `retry_after`.
    """
    body = request.to_intercom()
    query = {
        "operator": "AND",
        "value": [
            {"field": "role", "operator": "=", "value": "lead"},
            {"field": "email", "operator": "=", "value": request.email},
            {"field": "created_at", "operator": ">", "value": _day_before(sent.sent_at - CLOCK_SKEW_SECONDS)},
        ],
    }
    settled_at = sent.last_send_by + window  # search shows a lead created by then, if it was
    give_up = min(deadline, time.monotonic() + LOOKUP_BUDGET_SECONDS)
    wait = LOOKUP_FIRST_WAIT_SECONDS
    while True:
        asked_at = time.time()
        try:
            found = client.search_contacts(query, deadline=deadline, per_page=LOOKUP_PAGE_SIZE)
        except ContactError:  # search failed this time: it cannot tell either way, so keep looking
            found = None
        mine = sorted(
            (contact for contact in found or [] if _created_by(contact, body, sent.sent_at)),
            key=lambda contact: int(contact.get("created_at") or 0),
        )
        if mine:
            metrics.add_metric(name="LostAnswersRecovered", unit=MetricUnit.Count, value=1)
            return ContactResult(mine[0], Outcome.CREATED)
        if found is not None and len(found) < LOOKUP_PAGE_SIZE and asked_at >= settled_at:
            return None  # a full page could have the lead on the next: no evidence then
        if time.monotonic() + wait >= give_up:
            left = math.ceil(settled_at - time.time())
            raise OutcomeUnknown(
                "The lead was sent to Intercom, but whether it was created cannot be told yet: Intercom's "
                f"search, which runs minutes behind, does not show it. Try again in {max(1, left)} s (with "
                "the same Idempotency-Key): it is looked up again, and sent again only if search still "
                f"does not show it {window:.0f} s after it was sent.",
                sent_at=sent.sent_at,
                retry_after=left if left > 0 else None,
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
