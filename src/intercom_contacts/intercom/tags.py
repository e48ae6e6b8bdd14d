"""Intercom's tags API: find or create a tag by name, tag a contact with it.

Every call goes through the Intercom client (its rate-limit gate, retries and errors). Each is
idempotent at Intercom: `POST /tags` returns the tag of that name if there is one (names are
case-insensitive there), and tagging a contact that has the tag answers 200 again, changing nothing.
A container keeps each tag's id by name, so the contacts of one tag cost one `POST /tags` between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from intercom_contacts.errors import ContactNotFound, IntercomRejected, IntercomUnavailable, TagRejected
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.intercom.id_cache import IdCache


@dataclass(frozen=True)
class Tag:
    id: str
    name: str  # as Intercom holds it: the first spelling it was created with


class TagsApi:
    """One per container: it keeps the tags it found (thread-safe)."""

    def __init__(self, client: IntercomClient) -> None:
        self._client = client
        self._found: IdCache[Tag] = IdCache()

    def find_or_create(self, name: str, *, deadline: float) -> Tag:
        """`POST /tags` `{"name"}`, unless this container found the tag before (by name, in any case)."""

        def post() -> Tag:
            try:
                tag = self._client.request("POST", "/tags", {"name": name}, deadline=deadline)
            except IntercomRejected as rejected:
                raise TagRejected(
                    f"Intercom refused the tag {name!r}: {rejected.message.rstrip('.')}. Correct the "
                    "tag's name and send the contact again.",
                    request_id=rejected.request_id,
                    intercom_code=rejected.intercom_code,
                ) from None
            return Tag(id=str(tag["id"]), name=str(tag.get("name", name)))

        return self._found.get(name.casefold(), post, usable=lambda _: True, deadline=deadline)

    def tag_contact(self, contact_id: str, name: str, *, deadline: float) -> Tag:
        """Find or create the tag (see `find_or_create`) and tag the contact; done already is done. A
        tag deleted in Intercom since this container found it is found (or created) again, once."""
        tag = self.find_or_create(name, deadline=deadline)
        try:
            self._tag(contact_id, tag, deadline=deadline)
        except IntercomRejected as rejected:
            if not _tag_missing(rejected):
                raise _refusal(rejected, contact_id, name) from None
            self._found.forget(name.casefold())
            tag = self.find_or_create(name, deadline=deadline)
            try:
                self._tag(contact_id, tag, deadline=deadline)
            except IntercomRejected as again:
                raise _refusal(again, contact_id, name) from None
        return tag

    def _tag(self, contact_id: str, tag: Tag, *, deadline: float) -> None:
        path = f"/contacts/{quote(contact_id, safe='')}/tags"
        self._client.request("POST", path, {"id": tag.id}, deadline=deadline)


def _tag_missing(rejected: IntercomRejected) -> bool:
    """Intercom's 404 for a tag it does not know ("Resource Not Found"); an unknown contact's is "User
    Not Found"."""
    return rejected.intercom_code == "not_found" and "user" not in rejected.message.lower()


def _refusal(
    rejected: IntercomRejected, contact_id: str, name: str
) -> IntercomRejected | IntercomUnavailable:
    """Intercom's refusal of a tagging as this service's error, saying what to do."""
    ids = {"request_id": rejected.request_id, "intercom_code": rejected.intercom_code}
    if _tag_missing(rejected):  # just found, yet not found: Intercom lags
        return IntercomUnavailable(
            f"Intercom did not find tag {name!r} right after returning it; retry later.", **ids
        )
    if rejected.intercom_code == "not_found":
        return ContactNotFound(
            f"Intercom has no contact {contact_id} to tag {name!r} (deleted or merged since); send the "
            "contact again to create or find it.",
            **ids,
        )
    return rejected
