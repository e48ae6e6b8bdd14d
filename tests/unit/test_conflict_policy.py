"""What a duplicate means: return it, update it, or fail; unarchive first when it is archived."""

from __future__ import annotations

from typing import Any

import pytest

from intercom_contacts.errors import ContactConflict
from intercom_contacts.logic.create_contact import create_contact
from intercom_contacts.models.contact import ContactRequest, OnConflict, Outcome

REQUEST = ContactRequest.model_validate({"role": "user", "email": "jane@example.com", "name": "Jane"})


class RecordingClient:
    """Stands in for IntercomClient: answers from a script and records the calls."""

    def __init__(self, conflict: ContactConflict | None = None, found: dict[str, Any] | None = None) -> None:
        self.conflict = conflict
        self.found = found
        self.calls: list[tuple[str, Any]] = []

    def create_contact(self, body: dict[str, Any], *, deadline: float, dedupes: bool) -> dict[str, Any]:
        self.calls.append(("create", dedupes))
        if self.conflict:
            raise self.conflict
        return {"id": "new", **body}

    def get_contact(self, contact_id: str, *, deadline: float) -> dict[str, Any]:
        self.calls.append(("get", contact_id))
        return {"id": contact_id, "name": "Old"}

    def update_contact(self, contact_id: str, body: dict[str, Any], *, deadline: float) -> dict[str, Any]:
        self.calls.append(("update", (contact_id, body)))
        return {"id": contact_id, **body}

    def unarchive_contact(self, contact_id: str, *, deadline: float) -> None:
        self.calls.append(("unarchive", contact_id))

    def find_user(
        self, *, email: str | None, external_id: str | None, deadline: float
    ) -> dict[str, Any] | None:
        self.calls.append(("find", (email, external_id)))
        return self.found


def _conflict(existing_id: str | None = "abc", archived: bool = False) -> ContactConflict:
    return ContactConflict("exists", existing_id=existing_id, archived=archived)


def _run(client: RecordingClient, on_conflict: OnConflict, request: ContactRequest = REQUEST) -> Any:
    return create_contact(request, on_conflict, client, deadline=float("inf"))  # type: ignore[arg-type]


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
    assert ("find", ("jane@example.com", None)) in client.calls


def test_a_409_without_an_id_that_cannot_be_found_stays_a_conflict() -> None:
    client = RecordingClient(_conflict(existing_id=None), found=None)
    with pytest.raises(ContactConflict):
        _run(client, OnConflict.RETURN)
