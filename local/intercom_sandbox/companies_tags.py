"""A workspace's companies and tags, and which contacts they are attached to or applied to.

Not thread-safe on its own: the `Workspace` calls it holding its lock, the one its contacts share.
Operations return the JSON body of Intercom's 200, or raise the error `Answer` Intercom would send.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import time
from typing import Any

from local.intercom_sandbox.schemas import Schemas, intercom_error

MAX_COMPANIES_PER_CONTACT = 1000  # POST /contacts/{id}/companies' documented limit
MAX_MONTHLY_SPEND = 2**31 - 1  # create_or_update_company_request: "an upper limit of 2**31-1"
SHOWN_ON_A_CONTACT = 10  # a contact's `companies` and `tags` lists show up to 10, then `has_more`
ADMIN_ID = "991267460"  # the admin behind the sandbox's access token, who applies its tags
ATTACH = "POST /contacts/{contact_id}/companies"
TAG_CONTACT = "POST /contacts/{contact_id}/tags"


class CompaniesAndTags:
    def __init__(self, schemas: Schemas, workspace_id: str) -> None:
        self._schemas = schemas
        self._workspace_id = workspace_id
        self.companies: dict[str, dict[str, Any]] = {}  # by Intercom's id
        self.tags: dict[str, dict[str, Any]] = {}  # by Intercom's id
        self._company_ids: dict[str, str] = {}  # your company_id -> Intercom's id
        self._plans: dict[str, str] = {}  # plan name -> its id
        self._attached: dict[str, list[str]] = {}  # contact id -> its companies' ids, in attach order
        self._applied: dict[str, dict[str, int]] = {}  # contact id -> its tags' ids -> applied_at
        self._tag_ids = itertools.count(100)  # never reused, even after a tag is deleted

    def reset(self) -> None:
        for held in (self.companies, self.tags, self._company_ids, self._plans):
            held.clear()
        self._attached.clear()
        self._applied.clear()
        self._tag_ids = itertools.count(100)

    # --- companies ---------------------------------------------------------------------------
    def check_company(self, body: dict[str, Any]) -> None:
        """Refuse a `POST /companies` body Intercom would refuse (callable without the lock)."""
        for name in body:
            if name not in self._schemas.company_fields:
                message = f"bad '{name}' parameter"
                raise self._schemas.documented_error("POST /companies", "Bad Request", message)
        problem = next(iter(self._schemas.company_request.iter_errors(body)), None)
        if problem is not None:
            where = ".".join(str(p) for p in problem.absolute_path) or None
            raise intercom_error(400, "parameter_invalid", problem.message, where)
        if not body.get("company_id"):
            raise intercom_error(400, "parameter_not_found", "company_id not specified", "company_id")
        if body.get("monthly_spend", 0) > MAX_MONTHLY_SPEND:
            message = f"monthly_spend must be at most {MAX_MONTHLY_SPEND}"
            raise intercom_error(400, "parameter_invalid", message, "monthly_spend")

    def create_or_update_company(self, body: dict[str, Any]) -> dict[str, Any]:
        """Found by `company_id`: updated with the fields sent; else created."""
        now = int(time.time())
        existing = self._company_ids.get(body["company_id"])
        company = self.companies[existing] if existing else self._new_company(body["company_id"], now)
        for name in ("name", "size", "website", "industry", "remote_created_at"):
            if name in body:
                company[name] = body[name]
        if "monthly_spend" in body:
            company["monthly_spend"] = int(body["monthly_spend"])  # Intercom truncates a float
        if "plan" in body:
            plan_id = self._plans.setdefault(body["plan"], str(269315 + len(self._plans)))
            company["plan"] = {"type": "plan", "id": plan_id, "name": body["plan"]}
        if body.get("update_last_request_at"):
            company["last_request_at"] = now
        company["custom_attributes"].update(body.get("custom_attributes") or {})
        company["updated_at"] = max(now, company["updated_at"] + 1) if existing else now
        return copy.deepcopy(company)

    def find_companies(self, query: dict[str, str]) -> dict[str, Any]:
        """`GET /companies`: by `company_id` or `name` (404 when none has it), else all of them."""
        wanted = {name: query[name] for name in ("company_id", "name") if name in query}
        found = [c for c in self.companies.values() if all(c.get(k) == v for k, v in wanted.items())]
        if wanted and not found:
            raise self._schemas.documented_error("GET /companies", "Company Not Found")
        return {
            "type": "list",
            "data": copy.deepcopy(found),
            "pages": {"type": "pages", "next": None, "page": 1, "per_page": 15, "total_pages": 1},
            "total_count": len(found),
        }

    def attach_company(self, contact: dict[str, Any] | None, body: dict[str, Any]) -> dict[str, Any]:
        """Attach the company `{"id"}` names; attaching one already attached changes nothing."""
        if body.get("id") is None:
            raise self._schemas.documented_error(ATTACH, "Bad Request")
        problem = next(iter(self._schemas.attach_company.iter_errors(body)), None)
        if problem is not None:
            raise intercom_error(400, "parameter_invalid", problem.message, "id")
        if contact is None:  # documented for GET /contacts/{id}/companies; assumed for POST
            raise self._schemas.documented_error("GET /contacts/{contact_id}/companies", "Contact not found")
        company = self.companies.get(body["id"])
        if company is None:
            raise self._schemas.documented_error(ATTACH, "Company Not Found")
        attached = self._attached.setdefault(contact["id"], [])
        if company["id"] not in attached:
            if len(attached) >= MAX_COMPANIES_PER_CONTACT:
                limit = MAX_COMPANIES_PER_CONTACT
                message = f"Contact has reached the maximum of {limit} company associations"
                raise self._schemas.documented_error(ATTACH, "Contact Company Limit Exceeded", message)
            attached.append(company["id"])
            company["user_count"] += 1
            contact["companies"] = _shown(contact["companies"], attached, "company", "/companies")
        return copy.deepcopy(company)

    def delete_company(self, company_id: str, contacts: dict[str, dict[str, Any]]) -> None:
        """As deleting it in Intercom's UI does: gone, and from every contact."""
        company = self.companies.pop(company_id)
        del self._company_ids[company["company_id"]]
        for contact_id, attached in self._attached.items():
            if company_id in attached:
                attached.remove(company_id)
                contact = contacts[contact_id]
                contact["companies"] = _shown(contact["companies"], attached, "company", "/companies")

    # --- tags --------------------------------------------------------------------------------
    def find_or_create_tag(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /tags` `{"name"}`: the tag of that name, matched case-insensitively, else a new one."""
        if "companies" in body or "users" in body or "id" in body:
            raise intercom_error(
                400,
                "parameter_invalid",
                "The sandbox implements only creating a tag by name, not renaming one or tagging "
                "companies or users through POST /tags",
            )
        valid = next(iter(self._schemas.tag_request.iter_errors(body)), None) is None
        if not valid or not body["name"].strip():
            raise self._schemas.documented_error("POST /tags", "Invalid parameters")
        name = body["name"]
        for tag in self.tags.values():
            if tag["name"].casefold() == name.casefold():
                return copy.deepcopy(tag)
        tag = {"type": "tag", "id": str(next(self._tag_ids)), "name": name}
        self.tags[tag["id"]] = tag
        return copy.deepcopy(tag)

    def list_tags(self) -> dict[str, Any]:
        return {"type": "list", "data": copy.deepcopy(list(self.tags.values()))}

    def tag_contact(self, contact: dict[str, Any] | None, body: dict[str, Any]) -> dict[str, Any]:
        """Apply the tag `{"id"}` names; applying it again changes nothing and answers the same."""
        if isinstance(body.get("id"), int) and not isinstance(body["id"], bool):
            body = {**body, "id": str(body["id"])}  # the spec's own example sends {"id": 81}
        problem = next(iter(self._schemas.tag_contact.iter_errors(body)), None)
        if problem is not None:
            raise intercom_error(400, "parameter_invalid", problem.message, "id")
        if contact is None:
            raise self._schemas.documented_error(TAG_CONTACT, "Contact not found")
        tag = self.tags.get(body["id"])
        if tag is None:
            raise self._schemas.documented_error(TAG_CONTACT, "Tag not found")
        applied = self._applied.setdefault(contact["id"], {})
        if tag["id"] not in applied:
            applied[tag["id"]] = int(time.time())
            contact["tags"] = _shown(contact["tags"], list(applied), "tag", "/tags")
        return {**tag, "applied_at": applied[tag["id"]], "applied_by": {"type": "admin", "id": ADMIN_ID}}

    def delete_tag(self, tag_id: str, contacts: dict[str, dict[str, Any]]) -> None:
        """As deleting it in Intercom's UI does: gone, and from every contact."""
        del self.tags[tag_id]
        for contact_id, applied in self._applied.items():
            if applied.pop(tag_id, None) is not None:
                contact = contacts[contact_id]
                contact["tags"] = _shown(contact["tags"], list(applied), "tag", "/tags")

    def _new_company(self, company_id: str, now: int) -> dict[str, Any]:
        company: dict[str, Any] = {
            "type": "company",
            "company_id": company_id,
            "id": secrets.token_hex(12),
            "app_id": self._workspace_id,
            "created_at": now,
            "updated_at": now,
            "monthly_spend": 0,
            "session_count": 0,
            "user_count": 0,
            "tags": {"type": "tag.list", "tags": []},
            "segments": {"type": "segment.list", "segments": []},
            "plan": {},
            "custom_attributes": {},
        }
        self.companies[company["id"]] = company
        self._company_ids[company_id] = company["id"]
        return company


def _shown(listed: dict[str, Any], ids: list[str], kind: str, url: str) -> dict[str, Any]:
    """A contact's addressable list (contact.2.16.json's `companies` and `tags`): the first ten."""
    shown = [{"type": kind, "id": id_, "url": f"{url}/{id_}"} for id_ in ids[:SHOWN_ON_A_CONTACT]]
    return {**listed, "data": shown, "total_count": len(ids), "has_more": len(ids) > SHOWN_ON_A_CONTACT}
