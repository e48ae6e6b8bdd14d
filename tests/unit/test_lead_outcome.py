"""A lead whose outcome is unknown: looked up while Intercom's search may still be behind, sent again
only once a search asked after the lookup window still does not show it, and released from the send
journal when Intercom's answer shows it created nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from intercom_contacts.errors import ContactError, IntercomTimeout, IntercomUnavailable, OutcomeUnknown
from intercom_contacts.logic.create_contact import LOOKUP_PAGE_SIZE, create_contact
from intercom_contacts.logic.process_message import RecordProcessor
from intercom_contacts.models.contact import ContactRequest, OnConflict, Outcome
from intercom_contacts.sends import Sent, SentBefore

LEAD = ContactRequest.model_validate({"role": "lead", "email": "l@example.com", "name": "Lee"})
WINDOW = 600.0


class Journal:
    """Stands in for one request's entry in the send journal; `earlier` is another attempt's send."""

    def __init__(self, earlier: Sent | None = None) -> None:
        self.earlier = earlier
        self.replaced: list[Sent | None] = []
        self.released: list[Sent] = []

    def claim(self, *, last_send_by: float, replacing: Sent | None = None) -> Sent:
        if self.earlier is not None and replacing != self.earlier:
            raise SentBefore(self.earlier)
        self.replaced.append(replacing)
        return Sent("mine", time.time(), last_send_by)

    def release(self, mine: Sent) -> None:
        self.released.append(mine)


class Intercom:
    """Stands in for the Intercom client: creates leads (or fails as told), searches from a script."""

    def __init__(
        self, *, found: list[dict[str, Any]] | None = None, fail: ContactError | None = None
    ) -> None:
        self.found = found
        self.fail = fail
        self.sent = 0

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
        self.sent += 1
        if self.fail is not None:
            raise self.fail
        return {"id": f"lead-{self.sent}", **body}

    def search_contacts(
        self, query: dict[str, Any], *, deadline: float, per_page: int | None = None
    ) -> list[dict[str, Any]]:
        if self.found is None:
            raise IntercomTimeout("search timed out")
        return self.found


def _create(intercom: Intercom, journal: Journal) -> Any:
    return create_contact(
        LEAD,
        OnConflict.RETURN,
        intercom,  # type: ignore[arg-type]
        deadline=time.monotonic() + 0.5,  # one search, no second
        lookup_window=WINDOW,
        journal=journal,  # type: ignore[arg-type]
    )


def test_a_lead_sent_within_the_window_stays_unknown_until_the_window_has_passed() -> None:
    # Given an earlier attempt sent the lead 60 s ago, and search does not show it
    now = time.time()
    journal, intercom = Journal(Sent("earlier", now - 60, now - 60)), Intercom(found=[])
    # When it is attempted again
    with pytest.raises(OutcomeUnknown) as unknown:
        _create(intercom, journal)
    # Then it is not sent, and is to be tried again once the window has passed since that send
    assert intercom.sent == 0
    assert unknown.value.retry_after is not None
    assert WINDOW - 60 - 5 <= unknown.value.retry_after <= WINDOW - 60 + 1


def test_a_lead_search_still_does_not_show_after_the_window_is_sent_again_once() -> None:
    # Given an earlier attempt sent the lead longer ago than the window, and search does not show it
    long_ago = time.time() - WINDOW - 1
    earlier = Sent("earlier", long_ago, long_ago)
    journal, intercom = Journal(earlier), Intercom(found=[])
    # When it is attempted again
    result = _create(intercom, journal)
    # Then it is sent again, in place of the earlier send in the journal, and created
    assert (result.outcome, result.contact["id"]) == (Outcome.CREATED, "lead-1")
    assert intercom.sent == 1
    assert journal.replaced == [earlier]


def test_a_lead_whose_search_fails_after_the_window_stays_unknown() -> None:
    # Given an earlier attempt sent the lead longer ago than the window, and search fails
    long_ago = time.time() - WINDOW - 1
    journal, intercom = Journal(Sent("earlier", long_ago, long_ago)), Intercom(found=None)
    # When it is attempted again
    # Then a failed search decides nothing: the lead is not sent, and is tried again with the backoff
    with pytest.raises(OutcomeUnknown) as unknown:
        _create(intercom, journal)
    assert intercom.sent == 0
    assert unknown.value.retry_after is None


def test_a_full_page_of_other_leads_with_that_email_is_no_evidence() -> None:
    # Given an earlier attempt sent the lead longer ago than the window, and search answers a full
    # page of leads with that email, all created before it was sent
    long_ago = time.time() - WINDOW - 1
    older = {"role": "lead", "email": "l@example.com", "name": "Lee", "created_at": int(long_ago) - 3600}
    page = [{"id": f"old-{n}", **older} for n in range(LOOKUP_PAGE_SIZE)]
    journal, intercom = Journal(Sent("earlier", long_ago, long_ago)), Intercom(found=page)
    # When it is attempted again
    # Then its lead could be on the next page: it stays unknown and is not sent
    with pytest.raises(OutcomeUnknown):
        _create(intercom, journal)
    assert intercom.sent == 0


def test_a_lead_found_after_the_window_is_not_sent_again() -> None:
    # Given an earlier attempt sent the lead longer ago than the window, and it did create it
    long_ago = time.time() - WINDOW - 1
    created = {
        "id": "lead-0",
        "role": "lead",
        "email": "l@example.com",
        "name": "Lee",
        "created_at": int(long_ago),
    }
    journal, intercom = Journal(Sent("earlier", long_ago, long_ago)), Intercom(found=[created])
    # When it is attempted again
    result = _create(intercom, journal)
    # Then it is the lead that send created
    assert (result.outcome, result.contact["id"]) == (Outcome.CREATED, "lead-0")
    assert intercom.sent == 0


def test_a_lead_intercom_answered_without_creating_is_released_from_the_journal() -> None:
    # Given Intercom answers the lead 503 (it did not carry the request out)
    journal, intercom = Journal(), Intercom(fail=IntercomUnavailable("unavailable"))
    # When it is sent
    with pytest.raises(IntercomUnavailable):
        _create(intercom, journal)
    # Then its send is taken out of the journal: a retry may send it at once
    assert [sent.attempt for sent in journal.released] == ["mine"]


def test_a_lead_whose_answer_was_lost_stays_in_the_journal() -> None:
    # Given the lead's answer is lost, and search does not show it
    journal = Journal()
    intercom = Intercom(found=[], fail=OutcomeUnknown("lost", sent_at=time.time()))
    # When it is sent
    with pytest.raises(OutcomeUnknown) as unknown:
        _create(intercom, journal)
    # Then its send stays in the journal (a retry looks it up), and the retry waits for the window
    assert journal.released == []
    assert unknown.value.retry_after is not None
    assert unknown.value.retry_after >= WINDOW


def test_the_workers_next_receive_waits_for_the_end_of_the_lookup_window() -> None:
    # Given a worker whose first retry would come after 1 s
    processor = RecordProcessor(
        None, None, None, "queue", "dlq", aws_call_seconds=9.0, retry_base_seconds=1.0
    )  # type: ignore[arg-type]
    # When a lead's outcome is unknown until its lookup window ends in 300 s
    unknown = OutcomeUnknown("unknown", sent_at=time.time(), retry_after=300)
    # Then its next receive is no earlier than that
    assert processor.backoff_seconds(1, unknown) == 300
