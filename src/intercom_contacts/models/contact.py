"""The create-contact request (Intercom 2.16's fields, stricter) and what the API answers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from intercom_contacts.models.strict_json import INT64_MAX, INT64_MIN, UnrepresentableNumber

# Intercom stores these as strings of at most 255 characters; a custom attribute's name may not
# contain '.' or '$' and is at most 190 characters.
EMAIL_PATTERN = re.compile(r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f.]{2,}$")
ATTRIBUTE_NAME_PATTERN = re.compile(r"^[^.$\x00-\x1f\x7f]{1,190}$")
UNREPRESENTABLE = "is a number Intercom cannot store (NaN, Infinity, or outside the signed 64-bit range)"

MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z: the last second that is a real date

Text = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Timestamp = Annotated[int, Field(ge=0, le=MAX_TIMESTAMP, strict=True, description="Unix seconds")]


class FieldProblem(ValueError):
    """A check across fields that still names the one field to fix (pydantic places a model
    validator's errors on the whole body)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class OnConflict(StrEnum):
    """What to do when Intercom already has a user with this email or external_id."""

    RETURN = "return"
    UPDATE = "update"
    FAIL = "fail"


class Outcome(StrEnum):
    CREATED = "created"
    EXISTING = "existing"
    UPDATED = "updated"


MAX_COMPANIES = 10
MAX_TAGS = 20
INT32_MAX = 2**31 - 1  # Intercom's upper limit for a company's monthly_spend
TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CompanyRequest(BaseModel):
    """A company to create or update in Intercom (by your `company_id`) and attach to the contact."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    company_id: Text = Field(description="Your id for the company; Intercom finds the company by it")
    name: Text | None = None
    plan: Text | None = None
    size: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    website: Annotated[str, StringConstraints(max_length=2048)] | None = None
    industry: Text | None = None
    monthly_spend: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = Field(
        default=None, description="Whole units; Intercom's limit is 2**31-1"
    )
    remote_created_at: Timestamp | None = None
    custom_attributes: dict[str, Any] | None = Field(
        default=None, description="Flat object of strings, numbers and booleans"
    )

    @field_validator("custom_attributes")
    @classmethod
    def _flat_attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _flat(value)


class ContactRequest(BaseModel):
    """Body of `POST /contacts`: the fields of Intercom's create-contact request."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    role: Literal["user", "lead"] = Field(
        description="`user` or `lead` (`User`/`Lead` accepted)",
        json_schema_extra={"enum": ["user", "lead", "User", "Lead"]},
    )
    email: Annotated[str, StringConstraints(max_length=254)] | None = Field(
        default=None,
        description="Required unless the role is `user` and `external_id` is given",
        json_schema_extra={"pattern": EMAIL_PATTERN.pattern},
    )
    external_id: Text | None = None
    phone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    name: Text | None = None
    avatar: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)] | None = None
    signed_up_at: Timestamp | None = None
    last_seen_at: Timestamp | None = None
    owner_id: Annotated[str, StringConstraints(pattern=r"^\d{1,20}$")] | None = None
    unsubscribed_from_emails: bool | None = None
    email_verified: bool | None = None
    custom_attributes: dict[str, Any] | None = Field(
        default=None,
        description="Flat object; each attribute must exist in the Intercom workspace (or be created with "
        "create_attributes=true) and be writable through its API; a value is converted to the attribute's "
        'type when its text is unambiguous ("12", "yes", "2025-01-31"), else refused before Intercom '
        "is called",
    )

    companies: Annotated[list[CompanyRequest], Field(max_length=MAX_COMPANIES)] | None = Field(
        default=None,
        description="Companies to create or update and attach to the contact once it exists (not "
        "Intercom contact fields: each takes calls of its own)",
    )
    tags: Annotated[list[TagName], Field(max_length=MAX_TAGS)] | None = Field(
        default=None,
        description="Tag names (trimmed, case kept) to find or create and apply once the contact exists",
    )

    @field_validator("role", mode="before")
    @classmethod
    def _lower_role(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) and value in {"User", "Lead"} else value

    @field_validator("email")
    @classmethod
    def _email_syntax(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_PATTERN.match(value):
            raise ValueError("is not a valid email address")
        return value

    @field_validator("custom_attributes")
    @classmethod
    def _flat_attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _flat(value)

    @field_validator("tags")
    @classmethod
    def _distinct_tags(cls, value: list[str] | None) -> list[str] | None:
        """Intercom's tag names are case-insensitive: the same tag twice is applied once."""
        if value is None:
            return None
        seen: dict[str, str] = {}
        for name in value:
            seen.setdefault(name.casefold(), name)
        return list(seen.values())

    @field_validator("companies")
    @classmethod
    def _distinct_companies(cls, value: list[CompanyRequest] | None) -> list[CompanyRequest] | None:
        ids = [company.company_id for company in value or []]
        if len(set(ids)) != len(ids):
            raise ValueError("names the same company_id twice")
        return value

    @model_validator(mode="after")
    def _identity(self) -> ContactRequest:
        if self.email is None and not (self.role == "user" and self.external_id):
            raise FieldProblem("email", "is required unless the role is user and external_id is given")
        if self.email_verified is not None and self.email is None:
            raise FieldProblem("email_verified", "can only be sent together with email")
        return self

    def to_intercom(self) -> dict[str, Any]:
        """The body Intercom receives, for `POST /contacts` and `PUT /contacts/{id}` alike."""
        return self.model_dump(exclude_none=True, exclude={"companies", "tags"})

    def to_body(self) -> dict[str, Any]:
        """The whole request as this service's API takes it (a queue message's body), companies and tags
        included."""
        return self.model_dump(exclude_none=True)

    @property
    def has_steps(self) -> bool:
        """Whether companies or tags follow the contact's creation."""
        return bool(self.companies or self.tags)


def _flat(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A flat object of values Intercom can store as custom attributes."""
    for name, item in (value or {}).items():
        if not ATTRIBUTE_NAME_PATTERN.match(name):
            raise ValueError(f"attribute name {name[:40]!r} must be 1-190 characters without '.' or '$'")
        if isinstance(item, UnrepresentableNumber) or (
            isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX
        ):
            raise ValueError(f"attribute {name[:40]!r} {UNREPRESENTABLE}")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"attribute {name[:40]!r} {UNREPRESENTABLE}")
        if not (item is None or isinstance(item, (str, int, float, bool))):
            raise ValueError(f"attribute {name[:40]!r} must be a string, number, boolean or null")
        if isinstance(item, str) and len(item) > 255:
            raise ValueError(f"attribute {name[:40]!r} is longer than 255 characters")
    return value


class CompanyDone(BaseModel):
    id: str = Field(description="Intercom's id of the company")
    company_id: str = Field(description="Your id of the company")


class TagDone(BaseModel):
    id: str = Field(description="Intercom's id of the tag")
    name: str = Field(description="The tag's name as Intercom holds it")


class Contact(BaseModel):
    """An Intercom contact as Intercom returned it (the main fields; every other field passes through)."""

    model_config = ConfigDict(extra="allow")

    type: str = "contact"
    id: str
    role: str
    email: str | None = None
    external_id: str | None = None
    name: str | None = None
    phone: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    custom_attributes: dict[str, Any] | None = None
    companies: list[CompanyDone] | dict[str, Any] | None = Field(
        default=None,
        description="When the request named companies: each one attached, Intercom's `id` and your "
        "`company_id`; otherwise Intercom's own list object",
    )
    tags: list[TagDone] | dict[str, Any] | None = Field(
        default=None,
        description="When the request named tags: each one applied, its `id` and `name`; otherwise "
        "Intercom's own list object",
    )


class FieldError(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    """Every error the service answers: a stable machine-readable code and a sentence for people."""

    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    fields: list[FieldError] | None = None
    request_id: str | None = Field(default=None, description="Intercom's request id, when Intercom answered")
    intercom_code: str | None = None
    contact_id: str | None = Field(default=None, description="The existing contact, for CONTACT_EXISTS")


def field_errors(problems: Iterable[Mapping[str, Any]], *, skip_location: bool = False) -> list[FieldError]:
    """Pydantic's errors as the API shows them: the field's dotted path and a sentence, never the value.

    `skip_location` drops the leading `body`/`query`/`header` of the event handler's errors.
    """
    fields = []
    for problem in problems:
        loc = tuple(str(part) for part in problem.get("loc", ()))
        path = loc[1:] if skip_location else loc
        cause = (problem.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblem):
            path = (*path, cause.field)
        fields.append(FieldError(field=".".join(path) or "body", message=_sentence(problem)))
    return fields


def _sentence(problem: Mapping[str, Any]) -> str:
    kind = problem.get("type")
    if isinstance(problem.get("input"), UnrepresentableNumber):
        return UNREPRESENTABLE
    if kind == "extra_forbidden":
        return "is not a field of this API"
    if kind == "missing":
        return "is required"
    if kind in {"model_attributes_type", "model_type", "dict_type"}:
        return "must be a JSON object"
    return str(problem.get("msg", "is invalid")).removeprefix("Value error, ")
