"""Outcome events on the stack's EventBridge bus: what happened to each contact, and when a batch ended.

Only the publishing lives here; logic/outcomes.py decides what to announce. Delivery is at least
once: a caller whose publish failed retries the whole step, so a consumer may see an event twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts.errors import EventsUnavailable

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

SOURCE = "intercom-contacts"
MAX_ENTRIES = 10  # PutEvents' limit per call


class EventPublisher:
    def __init__(self, events: EventBridgeClient, bus_name: str) -> None:
        self._events = events
        self._bus = bus_name

    def publish(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Put each (detail-type, detail) on the bus; raises EventsUnavailable if any was not taken."""
        entries: list[PutEventsRequestEntryTypeDef] = [
            {
                "Source": SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, separators=(",", ":")),
                "EventBusName": self._bus,
            }
            for detail_type, detail in events
        ]
        for start in range(0, len(entries), MAX_ENTRIES):
            try:
                answer = self._events.put_events(Entries=entries[start : start + MAX_ENTRIES])
            except (BotoCoreError, ClientError):
                raise EventsUnavailable("The outcome event could not be published; retry later.") from None
            if answer.get("FailedEntryCount"):
                raise EventsUnavailable("EventBridge refused an outcome event; retry later.")
