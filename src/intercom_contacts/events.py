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
        """Put each (detail-type, detail) on the bus, ten a call; an entry EventBridge refused is sent
        once more on its own. Raises EventsUnavailable when some were still not taken, after every
        other entry was put: one bad entry does not hold the invocation's other events back."""
        entries: list[PutEventsRequestEntryTypeDef] = [
            {
                "Source": SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, separators=(",", ":")),
                "EventBusName": self._bus,
            }
            for detail_type, detail in events
        ]
        refused = self._put(entries)
        if refused:
            refused = self._put(refused)
        if refused:
            raise EventsUnavailable("EventBridge refused an outcome event; retry later.")

    def _put(self, entries: list[PutEventsRequestEntryTypeDef]) -> list[PutEventsRequestEntryTypeDef]:
        """The entries EventBridge did not take (its answer lists one result per entry, in order)."""
        refused: list[PutEventsRequestEntryTypeDef] = []
        for start in range(0, len(entries), MAX_ENTRIES):
            chunk = entries[start : start + MAX_ENTRIES]
            try:
                answer = self._events.put_events(Entries=chunk)
            except (BotoCoreError, ClientError):
                raise EventsUnavailable("The outcome event could not be published; retry later.") from None
            if answer.get("FailedEntryCount"):
                results = answer.get("Entries", [])
                if len(results) != len(chunk):  # no per-entry answer to go by: none counts as taken
                    refused.extend(chunk)
                    continue
                refused.extend(
                    entry for entry, result in zip(chunk, results, strict=True) if "ErrorCode" in result
                )
        return refused
