"""What follows a contact's creation: its companies and its tags (issue 20).

Intercom's create-contact body has no field for either, so each takes calls of its own once the
contact exists: the company is created or updated and attached, the tag found or created and applied.
Every call is idempotent at Intercom. A keyed attempt that fails part-way records which steps are done
(`StepsDone`, kept by the send journal); the retry replays the contact from the idempotency store
(never creates it again) and runs only the steps still missing. Without that record (a crash, or the
store down) the retry runs every step again, which changes nothing at Intercom. Ids of companies and
tags are kept per container (intercom/id_cache.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from intercom_contacts.errors import ContactError
from intercom_contacts.intercom.companies import CompaniesApi, Company
from intercom_contacts.intercom.tags import Tag, TagsApi
from intercom_contacts.models.contact import ContactRequest


@dataclass
class StepsDone:
    """The steps done for one contact: companies attached, by your `company_id`, and tags applied, by
    name in any case."""

    companies: dict[str, Company] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.companies or self.tags)

    def answer(self, request: ContactRequest) -> dict[str, Any]:
        """What was done, as the answer shows it, in the request's order."""
        shown: dict[str, Any] = {}
        if request.companies:
            attached = (self.companies[company.company_id] for company in request.companies)
            shown["companies"] = [{"id": c.id, "company_id": c.company_id} for c in attached]
        if request.tags:
            applied = (self.tags[name.casefold()] for name in request.tags)
            shown["tags"] = [{"id": tag.id, "name": tag.name} for tag in applied]
        return shown

    def to_json(self) -> dict[str, Any]:
        return {
            "companies": [{"id": c.id, "company_id": c.company_id} for c in self.companies.values()],
            "tags": [{"id": tag.id, "name": tag.name} for tag in self.tags.values()],
        }

    @classmethod
    def from_json(cls, recorded: Mapping[str, Any]) -> StepsDone:
        companies = [Company(id=str(c["id"]), company_id=str(c["company_id"])) for c in recorded["companies"]]
        tags = [Tag(id=str(t["id"]), name=str(t["name"])) for t in recorded["tags"]]
        return cls({c.company_id: c for c in companies}, {t.name.casefold(): t for t in tags})


@dataclass(frozen=True)
class ContactSteps:
    companies: CompaniesApi
    tags: TagsApi

    def apply(
        self, request: ContactRequest, contact_id: str, *, deadline: float, done: StepsDone | None = None
    ) -> dict[str, Any]:
        """Attach the request's companies to the contact, then apply its tags, skipping those `done`
        holds and adding each to it as it is done. Returns what was done, as the answer shows it:
        `companies` (Intercom's `id`, your `company_id`) and `tags` (`id`, `name`). A step's error
        carries the contact's id: the contact exists whatever failed after it."""
        done = StepsDone() if done is None else done
        try:
            for company in request.companies or ():
                if company.company_id not in done.companies:
                    fields = company.model_dump(exclude_none=True)
                    done.companies[company.company_id] = self.companies.attach(
                        contact_id, fields, deadline=deadline
                    )
            for name in request.tags or ():
                if name.casefold() not in done.tags:
                    done.tags[name.casefold()] = self.tags.tag_contact(contact_id, name, deadline=deadline)
        except ContactError as error:
            error.contact_id = contact_id
            raise
        return done.answer(request)
