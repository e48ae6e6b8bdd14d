"""What a duplicate means: return it, update it, or fail; unarchive first when it is archived."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from intercom_contacts.errors import ContactConflict, IntercomTimeout, OutcomeUnknown
from intercom_contacts.logic.create_contact import create_contact
from intercom_contacts.models.contact import ContactRequest, OnConflict, Outcome
from intercom_contacts.sends import Sent, SentBefore

REQUEST = ContactRequest.model_validate({"role": "user", "email": "jane@example.com", "name": "Jane"})


class RecordingClient:
    """Stands in for IntercomClient: answers from a script and records the calls."""

    def __init__(
        self,
        conflict: ContactConflict | None = None,
        found: dict[str, Any] | None = None,
        existing: dict[str, Any] | None = None,
    ) -> None:
        self.conflict = conflict
        self.found = found
        self.existing = existing or {"name": "Old"}
        self.calls: list[tuple[str, Any]] = []

    def create_contact(
        self,
        body: dict[str, Any],
        *,
        deadline: float,
        resend_after_loss: bool,
        on_send: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        if on_send is not None:
            on_send()
        self.calls.append(("create", resend_after_loss))
        if self.conflict:
            raise self.conflict
        return {"id": "new", **body}

    def get_contact(self, contact_id: str, *, deadline: float) -> dict[str, Any]:
        self.calls.append(("get", contact_id))
        return {"id": contact_id, **self.existing}

    def update_contact(self, contact_id: str, body: dict[str, Any], *, deadline: float) -> dict[str, Any]:
        self.calls.append(("update", (contact_id, body)))
        return {"id": contact_id, **body}

    def unarchive_contact(self, contact_id: str, *, deadline: float) -> None:
        self.calls.append(("unarchive", contact_id))

    def search_contacts(
        self, query: dict[str, Any], *, deadline: float, per_page: int | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(("search", query))
        return [self.found] if self.found else []


def _conflict(
    existing_id: str | None = "abc", archived: bool = False, sent_at: float | None = None
) -> ContactConflict:
    return ContactConflict("exists", existing_id=existing_id, archived=archived, sent_at=sent_at)


class Journal:
    """Stands in for the send journal's entry of one request: `earlier` is another attempt's send."""

    def __init__(self, earlier: Sent | None = None) -> None:
        self.earlier = earlier
        self.claims: list[Sent | None] = []  # what each claim replaced

    def claim(self, *, last_send_by: float, replacing: Sent | None = None) -> Sent:
        self.claims.append(replacing)
        if self.earlier is not None and replacing != self.earlier:
            raise SentBefore(self.earlier)
        return Sent("mine", time.time(), last_send_by)


def _run(
    client: RecordingClient,
    on_conflict: OnConflict,
    request: ContactRequest = REQUEST,
    sent_before: float | None = None,
) -> Any:
    earlier = None if sent_before is None else Sent("earlier", sent_before, sent_before)
    return create_contact(
        request,
        on_conflict,
        client,  # type: ignore[arg-type]
        deadline=time.monotonic() + 5,
        lookup_window=600,
        journal=Journal(earlier),  # type: ignore[arg-type]
    )


def test_a_new_contact_is_created() -> None:
    client = RecordingClient()
    result = _run(client, OnConflict.RETURN)
    assert result.outcome is Outcome.CREATED
    assert client.calls == [("create", True)]


def test_leads_are_created_without_resend_after_a_lost_answer() -> None:
    client = RecordingClient()
    _run(client, OnConflict.RETURN, ContactRequest.model_validate({"role": "lead", "email": "l@example.com"}))
    assert client.calls == [("create", False)]


def test_return_answers_the_existing_contact() -> None:
    client = RecordingClient(_conflict())
    result = _run(client, OnConflict.RETURN)
    assert (result.outcome, result.contact["id"]) == (Outcome.EXISTING, "abc")
    assert client.calls == [("create", True), ("get", "abc")]


def test_update_applies_the_request_to_the_existing_contact() -> None:
    client = RecordingClient(_conflict())
    result = _run(client, OnConflict.UPDATE)
    assert result.outcome is Outcome.UPDATED
    assert client.calls[1] == (
        "update",
        ("abc", {"role": "user", "email": "jane@example.com", "name": "Jane"}),
    )


def test_fail_raises_the_conflict_without_touching_the_contact() -> None:
    client = RecordingClient(_conflict(archived=True))
    with pytest.raises(ContactConflict):
        _run(client, OnConflict.FAIL)
    assert client.calls == [("create", True)]


@pytest.mark.parametrize("on_conflict", [OnConflict.RETURN, OnConflict.UPDATE])
def test_an_archived_duplicate_is_unarchived_first(on_conflict: OnConflict) -> None:
    client = RecordingClient(_conflict(archived=True))
    _run(client, on_conflict)
    assert client.calls[1] == ("unarchive", "abc")


def test_a_409_without_an_id_is_resolved_by_looking_the_user_up() -> None:
    client = RecordingClient(_conflict(existing_id=None), found={"id": "found"})
    result = _run(client, OnConflict.RETURN)
    assert result.contact["id"] == "found"
    assert (
        "search",
        {
            "operator": "AND",
            "value": [
                {"field": "role", "operator": "=", "value": "user"},
                {"field": "email", "operator": "=", "value": "jane@example.com"},
            ],
        },
    ) in client.calls


def test_a_409_without_an_id_that_cannot_be_found_stays_a_conflict() -> None:
    client = RecordingClient(_conflict(existing_id=None), found=None)
    with pytest.raises(ContactConflict):
        _run(client, OnConflict.RETURN)


SENT_AT = 1_800_000_000.0


@pytest.mark.parametrize("on_conflict", list(OnConflict))
def test_a_409_after_a_lost_answer_is_this_requests_own_creation(on_conflict: OnConflict) -> None:
    # Given the resend after a lost answer meets a 409 for a user created after the first send
    mine = {"role": "user", "email": "JANE@example.com", "name": "Jane", "created_at": int(SENT_AT) + 1}
    client = RecordingClient(_conflict(sent_at=SENT_AT), existing=mine)
    # When the conflict policy decides
    result = _run(client, on_conflict)
    # Then it is answered as created, whatever on_conflict says, and nothing is updated
    assert (result.outcome, result.contact["id"]) == (Outcome.CREATED, "abc")
    assert client.calls == [("create", True), ("get", "abc")]


@pytest.mark.parametrize(
    "existing",
    [
        {"role": "user", "email": "jane@example.com", "name": "Jane", "created_at": int(SENT_AT) - 3600},
        {"role": "user", "email": "jane@example.com", "name": "Other", "created_at": int(SENT_AT) + 1},
    ],
    ids=["created-before", "other-fields"],
)
def test_a_409_after_a_lost_answer_for_someone_elses_user_follows_on_conflict(
    existing: dict[str, Any],
) -> None:
    client = RecordingClient(_conflict(sent_at=SENT_AT), existing=existing)
    with pytest.raises(ContactConflict):
        _run(client, OnConflict.FAIL)


def test_a_lead_an_earlier_attempt_sent_is_only_looked_up() -> None:
    # Given an earlier attempt sent this lead and died before recording it
    lead = ContactRequest.model_validate({"role": "lead", "email": "l@example.com"})
    found = {"id": "lead-1", "role": "lead", "email": "l@example.com", "created_at": int(SENT_AT)}
    client = RecordingClient(found=found)
    # When it is attempted again
    result = _run(client, OnConflict.RETURN, lead, sent_before=SENT_AT)
    # Then it is found by search and never sent again
    assert (result.outcome, result.contact["id"]) == (Outcome.CREATED, "lead-1")
    assert [name for name, _ in client.calls] == ["search"]


def test_the_lead_lookup_covers_the_whole_day_it_was_sent_in() -> None:
    # Given a lead sent 3 s after midnight UTC (Intercom's search compares timestamps by calendar day,
    # and `>` a day means from the next day on)
    lead = ContactRequest.model_validate({"role": "lead", "email": "l@example.com"})
    sent = 1_795_996_803.0  # 2026-11-30T00:00:03Z
    client = RecordingClient(
        found={"id": "l", "role": "lead", "email": "l@example.com", "created_at": int(sent)}
    )
    # When it is looked up
    _run(client, OnConflict.RETURN, lead, sent_before=sent)
    # Then the search asks for leads created after 2026-11-28: from the 29th on, clock skew included
    [(_, query)] = client.calls
    assert {"field": "created_at", "operator": ">", "value": 1_795_824_000} in query["value"]


class LostLeadClient(RecordingClient):
    """Creates the lead, loses the answer, and then cannot search."""

    def create_contact(
        self,
        body: dict[str, Any],
        *,
        deadline: float,
        resend_after_loss: bool,
        on_send: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        self.calls.append(("create", resend_after_loss))
        raise OutcomeUnknown("lost", sent_at=SENT_AT)

    def search_contacts(
        self, query: dict[str, Any], *, deadline: float, per_page: int | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(("search", query))
        raise IntercomTimeout("too little time left")


def test_a_lost_lead_whose_search_fails_stays_unknown() -> None:
    # Given a lead whose answer was lost, and a search that fails while time runs out
    lead = ContactRequest.model_validate({"role": "lead", "email": "l@example.com"})
    client = LostLeadClient()
    # When its outcome is looked for
    # Then it is unknown (which keeps it from being sent again), not the search's own error
    with pytest.raises(OutcomeUnknown):
        create_contact(lead, OnConflict.RETURN, client, deadline=time.monotonic() + 0.5, lookup_window=600)  # type: ignore[arg-type]
    assert [name for name, _ in client.calls] == ["create", "search"]
