"""Intercom's data attributes API for contacts: list the workspace's custom attributes, create one.

Every call goes through the Intercom client (its rate-limit gate, retries and errors). A duplicate
creation (Intercom's 400 "You already have 'X' in your people data") means the attribute exists: a
concurrent request, or this one's lost answer, created it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intercom_contacts.errors import AttributeLimitReached, AttributeNameInvalid, IntercomRejected
from intercom_contacts.intercom.client import IntercomClient

DATA_TYPES = frozenset({"string", "integer", "float", "boolean", "date"})
LIMIT_REACHED = (
    "cannot be created: the workspace holds Intercom's maximum of 250 custom attributes. Archive unused "
    "ones in Intercom, or send only existing attributes."
)


@dataclass(frozen=True)
class DataAttribute:
    """A custom contact attribute: its name, its type, its list's options, whether the API may write it."""

    name: str
    data_type: str  # string, integer, float, boolean or date (Unix seconds)
    api_writable: bool = True
    options: tuple[str, ...] = ()


class DataAttributesApi:
    def __init__(self, client: IntercomClient) -> None:
        self._client = client

    def custom_attributes(self, *, deadline: float) -> dict[str, DataAttribute]:
        """`GET /data_attributes?model=contact`: the workspace's live custom attributes, by name."""
        listed = self._client.request("GET", "/data_attributes?model=contact", None, deadline=deadline)
        data = listed.get("data")
        items = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
        attributes = (_attribute(item) for item in items if item.get("custom") and not item.get("archived"))
        return {attribute.name: attribute for attribute in attributes if attribute is not None}

    def create(self, name: str, data_type: str, *, deadline: float) -> DataAttribute | None:
        """`POST /data_attributes`: the created attribute, or None when the workspace already has one of
        that name (read the list again for its type)."""
        body = {"name": name, "model": "contact", "data_type": data_type}
        try:
            created = self._client.request("POST", "/data_attributes", body, deadline=deadline)
        except IntercomRejected as rejected:
            message = rejected.message.lower()
            if "you already have" in message:
                return None
            field = f"custom_attributes.{name}"
            if "must only contain" in message or "standard attribute" in message:
                problem = (
                    f"cannot be created: Intercom says {rejected.message!r}. Rename it (letters, digits, "
                    "spaces, '_', '-' and currency symbols; not a standard attribute's name)."
                )
                raise AttributeNameInvalid([(field, problem)], request_id=rejected.request_id) from None
            if "at most" in message or "limit" in message:
                raise AttributeLimitReached(
                    [(field, LIMIT_REACHED)], request_id=rejected.request_id
                ) from None
            raise
        return _attribute(created) or DataAttribute(name, data_type)


def _attribute(item: dict[str, Any]) -> DataAttribute | None:
    """An attribute as Intercom listed it (None without a name). A type outside `DATA_TYPES` is kept:
    its values are left for Intercom to judge."""
    name, data_type = item.get("name"), item.get("data_type")
    if not isinstance(name, str):
        return None
    options = item.get("options")
    return DataAttribute(
        name=name,
        data_type=str(data_type),
        api_writable=item.get("api_writable") is not False,
        options=tuple(str(option) for option in options) if isinstance(options, list) else (),
    )
