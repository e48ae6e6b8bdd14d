"""One Intercom workspace as the contacts API sees it: its contacts, the archived ones, the 409 for a
duplicate user, search, its custom data attributes (typed; a contact's values must fit them), its
companies and tags (`companies_tags`), and the rate-limit window every authenticated call spends."""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import Draft202012Validator

from local.intercom_sandbox.companies_tags import CompaniesAndTags
from local.intercom_sandbox.schemas import Schemas, intercom_error

# The workspace's custom attributes at start, by name: their data types.
DEFAULT_CUSTOM_ATTRIBUTES: Mapping[str, str] = {
    "plan": "string",
    "paid_subscriber": "boolean",
    "monthly_spend": "float",
    "team_mates": "integer",
    "source": "string",
    "seats": "integer",
    "contract_signed_at": "date",
}
# A few of the standard contact attributes GET /data_attributes lists (`custom: false`); a custom
# attribute may not take one of their names.
STANDARD_ATTRIBUTES: Mapping[str, str] = {
    "name": "string",
    "email": "string",
    "phone": "string",
    "external_id": "string",
    "role": "string",
    "signed_up_at": "date",
    "last_seen_at": "date",
    "owner_id": "integer",
    "unsubscribed_from_emails": "boolean",
}
MAX_CUSTOM_ATTRIBUTES = 250  # a workspace's limit (Intercom's documentation)
INT64 = 2**63
DEFAULT_WINDOW_LIMIT = 1666  # 10,000 a minute, spread over 10-second windows
WORKSPACE_ID = "ecahpwf5"
# The contact's timestamps, which search matches by calendar day (see `_date_filter`).
DATE_FIELDS = frozenset(
    {
        "created_at",
        "updated_at",
        "signed_up_at",
        "last_seen_at",
        "last_replied_at",
        "last_contacted_at",
        "last_email_opened_at",
        "last_email_clicked_at",
    }
)
DAY = 86_400

Filter = Callable[[dict[str, Any]], bool]


class Workspace:
    """Thread-safe: the HTTP server answers each connection on its own thread.

    Operations return the JSON body of Intercom's 200, or raise the error `Answer` Intercom would send.
    """

    def __init__(
        self,
        schemas: Schemas,
        *,
        custom_attributes: Mapping[str, str],
        rate_limit: int | None,
        window_seconds: float,
        search_lag_seconds: float,
    ) -> None:
        self._schemas = schemas
        self._lock = threading.Lock()
        self._initial_attributes = dict(custom_attributes)
        self._custom_attributes: dict[str, dict[str, Any]] = {}
        self._define_initial_attributes()
        self.contacts: dict[str, dict[str, Any]] = {}
        self._archived: set[str] = set()
        self._search_lag = search_lag_seconds
        # Intercom's search is eventually consistent: a contact created through the API shows there
        # only from its instant here (time.monotonic()) on.
        self._searchable_from: dict[str, float] = {}
        self.companies_and_tags = CompaniesAndTags(schemas, WORKSPACE_ID)
        self._limit = rate_limit
        self._window = window_seconds
        self._window_start = 0.0
        self._window_used = 0

    # --- set up by tests ---------------------------------------------------------------------
    def set_rate_limit(self, limit: int | None, window_seconds: float) -> None:
        with self._lock:
            self._limit, self._window = limit, window_seconds
            self._window_start, self._window_used = 0.0, 0

    def set_search_lag(self, seconds: float) -> None:
        """Contacts created from now on show in search only `seconds` later."""
        with self._lock:
            self._search_lag = seconds

    def archive(self, contact_id: str) -> None:
        with self._lock:
            self._archived.add(contact_id)

    def define_custom_attribute(
        self, name: str, data_type: str = "string", *, api_writable: bool = True
    ) -> dict[str, Any]:
        """An attribute as Intercom's UI would create it (no checks): contacts may now carry `name`.
        `api_writable=False` is one only Intercom's UI may write."""
        with self._lock:
            return self._store_attribute(name, data_type, api_writable=api_writable, options=None)

    def archive_custom_attribute(self, name: str) -> None:
        """As archiving it in Intercom's UI does: no longer listed, and no longer writable."""
        with self._lock:
            self._custom_attributes.pop(name, None)

    def delete_company(self, company_id: str) -> None:
        with self._lock:
            self.companies_and_tags.delete_company(company_id, self.contacts)

    def delete_tag(self, tag_id: str) -> None:
        with self._lock:
            self.companies_and_tags.delete_tag(tag_id, self.contacts)

    def seed(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A contact that has been in the workspace a while: search finds it whatever the lag."""
        with self._lock:
            return self._store_new(fields)

    def reset(self) -> None:
        with self._lock:
            self.contacts.clear()
            self._archived.clear()
            self.companies_and_tags.reset()
            self._define_initial_attributes()
            self._search_lag = 0.0
            self._searchable_from.clear()
            self._window_start, self._window_used = 0.0, 0

    # --- the rate-limit window ---------------------------------------------------------------
    def spend_call(self) -> tuple[dict[str, str], bool]:
        """Spend one call of the current window: its `X-RateLimit-*` headers, and whether the window
        was already spent."""
        with self._lock:
            now = time.time()
            limit = self._limit if self._limit is not None else DEFAULT_WINDOW_LIMIT
            start = math.floor(now / self._window) * self._window
            if start != self._window_start:
                self._window_start, self._window_used = start, 0
            spent = self._window_used >= limit
            if not spent:
                self._window_used += 1
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - self._window_used)),
                "X-RateLimit-Reset": str(math.ceil(start + self._window)),
            }
            return headers, spent

    # --- the API's operations ----------------------------------------------------------------
    def list_contacts(self) -> dict[str, Any]:
        with self._lock:
            return _list([_public(c) for c in self.contacts.values()])

    def get(self, contact_id: str) -> dict[str, Any]:
        with self._lock:
            return _public(self._existing(contact_id))

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_contact_body(body, self._schemas.create)
        if not (body.get("email") or body.get("external_id") or body.get("role")):
            raise intercom_error(400, "parameter_invalid", "email, external_id or role is required")
        with self._lock:
            if body.get("role", "user") == "user":
                self._refuse_duplicate(body, exclude=None)
            contact = self._store_new(body)
            self._searchable_from[contact["id"]] = time.monotonic() + self._search_lag
            return _public(contact)

    def update(self, contact_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check_contact_body(body, self._schemas.update)
        with self._lock:
            contact = self._existing(contact_id)
            if body.get("role", contact["role"]) == "user":
                self._refuse_duplicate(body, exclude=contact_id)
            contact.update(_fields_from(body))
            contact["updated_at"] = max(int(time.time()), contact["updated_at"] + 1)
            return _public(contact)

    def unarchive(self, contact_id: str) -> dict[str, Any]:
        with self._lock:
            contact = self._existing(contact_id)
            self._archived.discard(contact_id)
        return {"id": contact_id, "external_id": contact["external_id"], "type": "contact", "archived": False}

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        problem = next(iter(self._schemas.search.iter_errors(body)), None)
        if problem is not None:
            raise intercom_error(400, "parameter_invalid", problem.message)
        matches = _search_filter(body["query"])
        with self._lock:
            now = time.monotonic()
            indexed = (c for c in self.contacts.values() if self._searchable_from.get(c["id"], now) <= now)
            return _list([_public(c) for c in indexed if matches(c)])

    def create_or_update_company(self, body: dict[str, Any]) -> dict[str, Any]:
        self.companies_and_tags.check_company(body)
        with self._lock:
            return self.companies_and_tags.create_or_update_company(body)

    def find_companies(self, query: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            return self.companies_and_tags.find_companies(query)

    def attach_company(self, contact_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.companies_and_tags.attach_company(self.contacts.get(contact_id), body)

    def find_or_create_tag(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.companies_and_tags.find_or_create_tag(body)

    def list_tags(self) -> dict[str, Any]:
        with self._lock:
            return self.companies_and_tags.list_tags()

    def tag_contact(self, contact_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.companies_and_tags.tag_contact(self.contacts.get(contact_id), body)

    def list_attributes(self, model: str | None) -> dict[str, Any]:
        """`GET /data_attributes`: the standard and custom attributes of `model` (contact when absent);
        the sandbox has no company attributes."""
        if model not in (None, "contact", "company"):
            raise intercom_error(400, "parameter_invalid", "model must be either contact or company", "model")
        if model == "company":
            return {"type": "list", "data": []}
        with self._lock:
            standard = [_attribute(name, kind, custom=False) for name, kind in STANDARD_ATTRIBUTES.items()]
            return {"type": "list", "data": standard + [dict(a) for a in self._custom_attributes.values()]}

    def create_attribute(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /data_attributes`, with the 400s Intercom documents for it."""
        errors = self._schemas.attribute_errors
        problem = next(iter(self._schemas.create_attribute.iter_errors(body)), None)
        if problem is not None:
            invalid_type = "data_type" in body and problem.validator == "oneOf"
            raise intercom_error(
                400, "parameter_invalid", errors["Invalid Data Type"] if invalid_type else problem.message
            )
        if body["data_type"] == "options" and len(body["options"]) < 2:
            message = "You must have at least two options on a list type data attribute"
            raise intercom_error(400, "parameter_invalid", message, "options")
        if body["model"] != "contact":
            raise intercom_error(400, "parameter_invalid", "The sandbox has only contact attributes", "model")
        name = body["name"]
        if not name or not all(_name_character(character) for character in name):
            raise intercom_error(400, "parameter_invalid", errors["Invalid name"], "name")
        if name.lower() in STANDARD_ATTRIBUTES:
            raise intercom_error(
                400, "parameter_invalid", f"'{name.capitalize()}' is one of our standard attributes", "name"
            )
        with self._lock:
            if name in self._custom_attributes:
                duplicate = errors["Same name already exists"].replace("'The One Ring'", f"'{name}'")
                raise intercom_error(
                    400, "parameter_invalid", duplicate.replace("company data", "people data")
                )
            if len(self._custom_attributes) >= MAX_CUSTOM_ATTRIBUTES:
                raise intercom_error(
                    400,
                    "parameter_invalid",
                    f"You can have at most {MAX_CUSTOM_ATTRIBUTES} custom attributes in your people data",
                )
            data_type = "date" if body["data_type"] == "datetime" else body["data_type"]
            options = [option["value"] for option in body.get("options") or []] or None
            kind = "string" if data_type == "options" else data_type
            return dict(self._store_attribute(name, kind, api_writable=True, options=options))

    # --- checks and storage (callers hold the lock where they touch the contacts) ------------
    def _define_initial_attributes(self) -> None:
        self._custom_attributes = {}
        for name, data_type in self._initial_attributes.items():
            self._store_attribute(name, data_type, api_writable=True, options=None)

    def _store_attribute(
        self, name: str, data_type: str, *, api_writable: bool, options: list[str] | None
    ) -> dict[str, Any]:
        attribute = _attribute(name, data_type, custom=True, api_writable=api_writable, options=options)
        attribute["id"] = len(self._custom_attributes) + 1
        self._custom_attributes[name] = attribute
        return attribute

    def _check_custom_attributes(self, values: dict[str, Any]) -> None:
        """Intercom writes only the workspace's API-writable attributes, each with a value of its type
        (null clears one); dates are Unix seconds."""
        for name, value in values.items():
            attribute = self._custom_attributes.get(name)
            field_name = f"custom_attributes.{name}"
            if attribute is None:
                raise intercom_error(
                    400, "parameter_invalid", f"Custom attribute '{name}' does not exist", field_name
                )
            if not attribute["api_writable"]:
                raise intercom_error(
                    400,
                    "parameter_invalid",
                    f"Custom attribute '{name}' is not writable by the API",
                    field_name,
                )
            if value is None:
                continue
            options = attribute.get("options")
            if not _fits(attribute["data_type"], value) or (options and value not in options):
                wanted = f"one of {options}" if options else attribute["data_type"]
                raise intercom_error(
                    400, "parameter_invalid", f"Custom attribute '{name}' must be {wanted}", field_name
                )

    def _check_contact_body(self, body: dict[str, Any], validator: Draft202012Validator) -> None:
        for name in body:
            if name not in self._schemas.fields:
                raise intercom_error(400, "parameter_not_found", f"Unknown parameter {name}", name)
        problem = next(iter(validator.iter_errors(body)), None)
        if problem is not None:
            where = ".".join(str(p) for p in problem.absolute_path) or None
            raise intercom_error(400, "parameter_invalid", problem.message, where)
        if "role" in body and body["role"] not in {"user", "lead"}:
            raise intercom_error(400, "parameter_invalid", "role must be user or lead", "role")
        if body.get("email_verified") is not None and not body.get("email"):
            raise intercom_error(
                400, "parameter_invalid", "email_verified must be sent together with email", "email_verified"
            )
        with self._lock:
            self._check_custom_attributes(body.get("custom_attributes") or {})

    def _refuse_duplicate(self, body: dict[str, Any], exclude: str | None) -> None:
        """Intercom matches users on email or external_id, archived ones included."""
        email = (body.get("email") or "").lower()
        external_id = body.get("external_id")
        for contact in self.contacts.values():
            if contact["id"] == exclude or contact["role"] != "user":
                continue
            if (email and (contact["email"] or "").lower() == email) or (
                external_id and contact["external_id"] == external_id
            ):
                template = (
                    self._schemas.archived_message
                    if contact["id"] in self._archived
                    else self._schemas.conflict_message
                )
                message = re.sub(r"id=\w+$", f"id={contact['id']}", template)
                raise intercom_error(409, "conflict", message)

    def _existing(self, contact_id: str) -> dict[str, Any]:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise intercom_error(404, "not_found", "User Not Found")
        return contact

    def _store_new(self, body: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        contact: dict[str, Any] = {
            "type": "contact",
            "id": secrets.token_hex(12),
            "workspace_id": WORKSPACE_ID,
            "external_id": None,
            "role": "user",
            "email": None,
            "email_domain": None,
            "phone": None,
            "name": None,
            "owner_id": None,
            "has_hard_bounced": False,
            "marked_email_as_spam": False,
            "unsubscribed_from_emails": False,
            "created_at": now,
            "updated_at": now,
            "signed_up_at": None,
            "last_seen_at": None,
            "last_replied_at": None,
            "last_contacted_at": None,
            "last_email_opened_at": None,
            "last_email_clicked_at": None,
            "language_override": None,
            "browser": None,
            "browser_version": None,
            "browser_language": None,
            "os": None,
            "android_app_name": None,
            "android_app_version": None,
            "android_device": None,
            "android_os_version": None,
            "android_sdk_version": None,
            "android_last_seen_at": None,
            "ios_app_name": None,
            "ios_app_version": None,
            "ios_device": None,
            "ios_os_version": None,
            "ios_sdk_version": None,
            "ios_last_seen_at": None,
            "custom_attributes": {},
            "avatar": None,
            "tags": {"type": "list", "data": [], "url": "", "total_count": 0, "has_more": False},
            "notes": {"type": "list", "data": [], "url": "", "total_count": 0, "has_more": False},
            "companies": {"type": "list", "data": [], "url": "", "total_count": 0, "has_more": False},
            "location": {"type": "location", "country": None, "region": None, "city": None},
            "social_profiles": {"type": "list", "data": []},
        }
        contact.update(_fields_from({k: v for k, v in body.items() if k != "email_verified"}))
        for name in ("tags", "notes", "companies"):
            contact[name]["url"] = f"/contacts/{contact['id']}/{name}"
        self.contacts[contact["id"]] = contact
        return dict(contact)


def _attribute(
    name: str, data_type: str, *, custom: bool, api_writable: bool = True, options: list[str] | None = None
) -> dict[str, Any]:
    """A data attribute as `data_attribute.2.16.json` shapes it."""
    attribute: dict[str, Any] = {
        "type": "data_attribute",
        "model": "contact",
        "name": name,
        "full_name": f"custom_attributes.{name}" if custom else name,
        "label": name,
        "data_type": data_type,
        "api_writable": api_writable,
        "ui_writable": True,
        "messenger_writable": False,
        "custom": custom,
        "archived": False,
    }
    if options:
        attribute["options"] = options
    if custom:
        attribute["created_at"] = attribute["updated_at"] = int(time.time())
    return attribute


def _name_character(character: str) -> bool:
    """Intercom's rule, 'alphanumeric characters, currency symbols, and hyphens', as its own examples
    apply it: `paid_subscriber` and `Mithril Shirt` are valid names too."""
    return character.isalnum() or character in "-_ " or unicodedata.category(character) == "Sc"


def _fits(data_type: str, value: Any) -> bool:
    if data_type == "string":
        return isinstance(value, str)
    if data_type == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if data_type in ("integer", "date"):
        return isinstance(value, int) and -INT64 <= value < INT64 and (data_type == "integer" or value >= 0)
    return data_type == "float" and isinstance(value, int | float)


def _search_filter(query: dict[str, Any]) -> Filter:
    """A (schema-valid) search query as a test of one contact; raises the 400 for a filter Intercom
    refuses, or one the sandbox does not implement, rather than find nothing."""
    operator, wanted = query.get("operator"), query.get("value")
    if operator in ("AND", "OR"):
        parts = [_search_filter(part) for part in wanted or []]
        combine = all if operator == "AND" else any
        return lambda contact: combine(part(contact) for part in parts)
    field = query.get("field", "")
    if field in DATE_FIELDS:
        return _date_filter(field, operator, wanted)
    if operator != "=":
        raise intercom_error(
            400, "parameter_invalid", f"The sandbox implements only = on {field}, not {operator}", field
        )
    if field == "email" and isinstance(wanted, str):  # Intercom compares emails case-insensitively
        return lambda contact: contact["email"] is not None and contact["email"].lower() == wanted.lower()
    return lambda contact: contact.get(field) == wanted


def _date_filter(field: str, operator: Any, wanted: Any) -> Filter:
    """Intercom matches a timestamp by the calendar day it falls in, in the workspace's timezone (UTC
    here): `=` is that whole day, `>` from the next day on, `<` before that day; `!=`, `<=`, `>=`, `IN`
    and `NIN` are refused (POST /contacts/search's description in Intercom's spec)."""
    if operator not in ("=", ">", "<"):
        raise intercom_error(
            400, "parameter_invalid", f"The {operator} operator is not supported on the date {field}", field
        )
    if isinstance(wanted, bool) or not isinstance(wanted, int | str) or not str(wanted).isdecimal():
        raise intercom_error(400, "parameter_invalid", f"{field} is searched by a Unix timestamp", field)
    day = int(wanted) // DAY * DAY

    def matches(contact: dict[str, Any]) -> bool:
        stamp: int | None = contact.get(field)
        if stamp is None:
            return False
        if operator == "=":
            return day <= stamp < day + DAY
        if operator == ">":
            return stamp >= day + DAY
        return stamp < day

    return matches


def _fields_from(body: dict[str, Any]) -> dict[str, Any]:
    """A request body's fields as the contact object holds them."""
    fields = {k: v for k, v in body.items() if k != "avatar"}
    if "avatar" in body:
        fields["avatar"] = {"type": "avatar", "image_url": body["avatar"]} if body["avatar"] else None
    if "email" in fields:
        fields["email_domain"] = (fields["email"] or "").partition("@")[2] or None
    if "custom_attributes" in fields:
        fields["custom_attributes"] = dict(fields["custom_attributes"] or {})
    return fields


def _public(contact: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(contact))  # a deep copy, as the wire would give
    return copied


def _list(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "list",
        "data": data,
        "total_count": len(data),
        "pages": {"type": "pages", "page": 1, "per_page": max(len(data), 1), "total_pages": 1},
    }
