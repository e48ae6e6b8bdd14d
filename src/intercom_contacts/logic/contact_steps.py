"""What follows a contact's creation: its companies and its tags (issue 20).

Intercom's create-contact body has no field for either, so each takes calls of its own once the
contact exists: the company is created or updated and attached, the tag found or created and applied.
Every call is idempotent at Intercom, so an attempt that failed part-way is simply repeated: the
contact is replayed from the idempotency store (never created again) and the steps run again, the
done ones changing nothing. Ids of companies and tags are kept per container (intercom/id_cache.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intercom_contacts.errors import ContactError
from intercom_contacts.intercom.companies import CompaniesApi
from intercom_contacts.intercom.tags import TagsApi
from intercom_contacts.models.contact import ContactRequest


@dataclass(frozen=True)
class ContactSteps:
    companies: CompaniesApi
    tags: TagsApi

    def apply(self, request: ContactRequest, contact_id: str, *, deadline: float) -> dict[str, Any]:
        """Attach the request's companies to the contact, then apply its tags. Returns what was done,
        as the answer shows it: `companies` (Intercom's `id`, your `company_id`) and `tags` (`id`,
        `name`). A step's error carries the contact's id: the contact exists whatever failed after it."""
        done: dict[str, Any] = {}
        try:
            if request.companies:
                attached = (
                    self.companies.attach(
                        contact_id, company.model_dump(exclude_none=True), deadline=deadline
                    )
                    for company in request.companies
                )
                done["companies"] = [{"id": c.id, "company_id": c.company_id} for c in attached]
            if request.tags:
                applied = (
                    self.tags.tag_contact(contact_id, name, deadline=deadline) for name in request.tags
                )
                done["tags"] = [{"id": tag.id, "name": tag.name} for tag in applied]
        except ContactError as error:
            error.contact_id = contact_id
            raise
        return done
