"""Intercom's companies API: create or update a company by your `company_id`, attach it to a contact.

Every call goes through the Intercom client (its rate-limit gate, retries and errors). Each is
idempotent at Intercom: `POST /companies` finds the company by `company_id` before it creates one, and
attaching a company the contact already has answers 200 again, changing nothing. A container keeps the
Intercom id of each company it saved with the fields it sent, so the contacts of one company cost one
`POST /companies` between them (until a contact brings other fields for it, which are saved).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from intercom_contacts.errors import (
    CompanyLimitReached,
    CompanyRejected,
    ContactNotFound,
    IntercomRejected,
    IntercomUnavailable,
)
from intercom_contacts.intercom.client import IntercomClient
from intercom_contacts.intercom.id_cache import IdCache


@dataclass(frozen=True)
class Company:
    id: str  # Intercom's
    company_id: str  # yours


@dataclass(frozen=True)
class _Saved:
    company: Company
    fields: str  # the fields it was saved with, as canonical JSON


class CompaniesApi:
    """One per container: it keeps the companies it saved (thread-safe)."""

    def __init__(self, client: IntercomClient) -> None:
        self._client = client
        self._saved: IdCache[_Saved] = IdCache()

    def save(self, fields: Mapping[str, Any], *, deadline: float) -> Company:
        """`POST /companies` with `fields` (Intercom's create-or-update body: `company_id` and any of
        `name`, `plan`, `size`, ...), unless this container saved the company with the same fields."""
        company_id = str(fields["company_id"])
        sent = json.dumps(fields, sort_keys=True, separators=(",", ":"))

        def post() -> _Saved:
            try:
                saved = self._client.request("POST", "/companies", fields, deadline=deadline)
            except IntercomRejected as rejected:
                raise CompanyRejected(
                    f"Intercom refused company {company_id!r}: {rejected.message.rstrip('.')}. Correct "
                    "the company's fields and send the contact again.",
                    request_id=rejected.request_id,
                    intercom_code=rejected.intercom_code,
                ) from None
            return _Saved(Company(id=str(saved["id"]), company_id=company_id), sent)

        kept = self._saved.get(company_id, post, usable=lambda saved: saved.fields == sent, deadline=deadline)
        return kept.company

    def attach(self, contact_id: str, fields: Mapping[str, Any], *, deadline: float) -> Company:
        """Save the company (see `save`) and attach it to the contact; done already is done. A company
        deleted in Intercom since this container saved it is saved again, once."""
        company = self.save(fields, deadline=deadline)
        try:
            self._attach(contact_id, company, deadline=deadline)
        except IntercomRejected as rejected:
            if rejected.intercom_code != "company_not_found":
                raise _refusal(rejected, contact_id, company) from None
            self._saved.forget(company.company_id)
            company = self.save(fields, deadline=deadline)
            try:
                self._attach(contact_id, company, deadline=deadline)
            except IntercomRejected as again:
                raise _refusal(again, contact_id, company) from None
        return company

    def _attach(self, contact_id: str, company: Company, *, deadline: float) -> None:
        path = f"/contacts/{quote(contact_id, safe='')}/companies"
        self._client.request("POST", path, {"id": company.id}, deadline=deadline)


def _refusal(
    rejected: IntercomRejected, contact_id: str, company: Company
) -> IntercomRejected | IntercomUnavailable:
    """Intercom's refusal of an attach as this service's error, saying what to do."""
    ids = {"request_id": rejected.request_id, "intercom_code": rejected.intercom_code}
    if rejected.intercom_code == "contact_company_limit_exceeded":
        return CompanyLimitReached(
            f"Contact {contact_id} already has Intercom's maximum of companies ({rejected.message}), so "
            f"company {company.company_id!r} was not attached. Detach companies it no longer needs in "
            "Intercom, then send the contact again.",
            **ids,
        )
    if rejected.intercom_code == "company_not_found":  # just saved, yet not found: Intercom lags
        return IntercomUnavailable(
            f"Intercom did not find company {company.company_id!r} right after saving it; retry later.", **ids
        )
    if rejected.intercom_code == "not_found":
        return ContactNotFound(
            f"Intercom has no contact {contact_id} to attach company {company.company_id!r} to (deleted or "
            "merged since); send the contact again to create or find it.",
            **ids,
        )
    return rejected
