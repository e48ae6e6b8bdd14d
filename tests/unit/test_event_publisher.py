"""EventPublisher against a stubbed EventBridge client: PutEvents answers per entry, and only the
entries it refused are sent again (botocore's Stubber checks each call's exact entries)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from intercom_contacts.errors import EventsUnavailable
from intercom_contacts.events import SOURCE, EventPublisher

BUS = "outcomes"


def _entry(n: int) -> dict[str, Any]:
    return {
        "Source": SOURCE,
        "DetailType": "Contact Created",
        "Detail": json.dumps({"n": n}, separators=(",", ":")),
        "EventBusName": BUS,
    }


def _answer(refused: set[int], size: int) -> dict[str, Any]:
    entries = [
        {"ErrorCode": "InternalFailure", "ErrorMessage": "x"} if n in refused else {"EventId": f"e{n}"}
        for n in range(size)
    ]
    return {"FailedEntryCount": len(refused), "Entries": entries}


@pytest.fixture
def events() -> Any:
    return boto3.client("events", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def test_only_the_refused_entry_is_sent_again_after_the_other_calls(events: Any) -> None:
    # Given 12 events, and EventBridge refusing the fourth once
    stub = Stubber(events)
    stub.add_response("put_events", _answer({3}, 10), {"Entries": [_entry(n) for n in range(10)]})
    stub.add_response("put_events", _answer(set(), 2), {"Entries": [_entry(10), _entry(11)]})
    stub.add_response("put_events", _answer(set(), 1), {"Entries": [_entry(3)]})
    # When they are published
    with stub:
        EventPublisher(events, BUS).publish([("Contact Created", {"n": n}) for n in range(12)])
        # Then the second call still went out, and the refused entry alone was put again
        stub.assert_no_pending_responses()


def test_an_entry_refused_twice_raises_after_the_others_were_put(events: Any) -> None:
    # Given EventBridge refusing the first of 11 events every time
    stub = Stubber(events)
    stub.add_response("put_events", _answer({0}, 10), {"Entries": [_entry(n) for n in range(10)]})
    stub.add_response("put_events", _answer(set(), 1), {"Entries": [_entry(10)]})
    stub.add_response("put_events", _answer({0}, 1), {"Entries": [_entry(0)]})
    # When they are published, then the caller is told to retry, and every other entry was put
    with stub, pytest.raises(EventsUnavailable):
        EventPublisher(events, BUS).publish([("Contact Created", {"n": n}) for n in range(11)])
    stub.assert_no_pending_responses()
