"""The create-contact request model: Intercom's fields, with the rules Intercom enforces checked first."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from intercom_contacts.models.contact import ContactRequest, field_errors


def _errors(body: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as raised:
        ContactRequest.model_validate(body)
    return [(error["loc"], error["msg"]) for error in raised.value.errors()]


def _fields(body: dict[str, Any]) -> list[tuple[str, str]]:
    """What a caller is told: each field to fix, with a sentence."""
    with pytest.raises(ValidationError) as raised:
        ContactRequest.model_validate(body)
    return [(field.field, field.message) for field in field_errors(raised.value.errors())]


def test_every_intercom_field_is_sent_as_given() -> None:
    # Given a body with every field of Intercom's create-contact request
    body = {
        "role": "user",
        "email": "jane@example.com",
        "external_id": "u-1",
        "phone": "+353871234567",
        "name": "Jane Doe",
        "avatar": "https://example.com/a.png",
        "signed_up_at": 1571672154,
        "last_seen_at": 0,
        "owner_id": "321",
        "unsubscribed_from_emails": False,
        "email_verified": True,
        "custom_attributes": {"plan": "pro", "seats": 3, "mrr": 9.5, "trial": False, "coupon": None},
    }
    # When it is validated and turned into Intercom's body
    sent = ContactRequest.model_validate(body).to_intercom()
    # Then Intercom receives exactly those fields
    assert sent == body


def test_capitalised_roles_of_the_product_form_are_accepted() -> None:
    assert ContactRequest.model_validate({"role": "Lead", "email": "l@example.com"}).role == "lead"
    assert ContactRequest.model_validate({"role": "User", "email": "u@example.com"}).role == "user"
    with pytest.raises(ValidationError):
        ContactRequest.model_validate({"role": "USER", "email": "u@example.com"})
    with pytest.raises(ValidationError):
        ContactRequest.model_validate({"role": "USER", "email": "u@example.com"})


def test_unset_fields_are_not_sent() -> None:
    sent = ContactRequest.model_validate(
        {"role": "lead", "email": "l@example.com", "name": None}
    ).to_intercom()
    assert sent == {"role": "lead", "email": "l@example.com"}


@pytest.mark.parametrize("role", ["admin", "", "users", 1, None])
def test_role_must_be_user_or_lead(role: Any) -> None:
    assert _errors({"role": role, "email": "a@example.com"})[0][0] == ("role",)


def test_role_is_required() -> None:
    assert _errors({"email": "a@example.com"})[0] == (("role",), "Field required")


def test_a_user_needs_an_email_or_an_external_id() -> None:
    assert _fields({"role": "user"}) == [
        ("email", "is required unless the role is user and external_id is given")
    ]
    assert ContactRequest.model_validate({"role": "user", "external_id": "u-1"}).email is None


def test_a_lead_needs_an_email_even_with_an_external_id() -> None:
    assert [field for field, _ in _fields({"role": "lead", "external_id": "x"})] == ["email"]


def test_email_verified_needs_an_email() -> None:
    problems = _fields({"role": "user", "external_id": "u-1", "email_verified": True})
    assert problems == [("email_verified", "can only be sent together with email")]


@pytest.mark.parametrize(
    "email", ["plain", "a@b", "a b@example.com", "@example.com", "a@@example.com", "a@x.c"]
)
def test_email_syntax_is_checked(email: str) -> None:
    assert _errors({"role": "lead", "email": email})[0][0] == ("email",)


@pytest.mark.parametrize("value", [-1, "1571672154", 1.5, True])
def test_timestamps_are_non_negative_integers(value: Any) -> None:
    assert _errors({"role": "lead", "email": "a@example.com", "signed_up_at": value})[0][0] == (
        "signed_up_at",
    )


def test_unknown_fields_are_rejected_not_dropped() -> None:
    assert _errors({"role": "lead", "email": "a@example.com", "company": "x"}) == [
        (("company",), "Extra inputs are not permitted")
    ]


@pytest.mark.parametrize(
    "attributes",
    [{"nested": {"a": 1}}, {"list": [1]}, {"a.b": 1}, {"$set": 1}, {"": 1}, {"long": "x" * 256}],
)
def test_custom_attributes_are_a_flat_object_of_scalars(attributes: dict[str, Any]) -> None:
    assert _errors({"role": "lead", "email": "a@example.com", "custom_attributes": attributes})[0][0] == (
        "custom_attributes",
    )


@pytest.mark.parametrize("field", ["name", "phone", "external_id", "owner_id", "avatar"])
def test_string_fields_refuse_other_types(field: str) -> None:
    assert _errors({"role": "lead", "email": "a@example.com", field: 12})[0][0] == (field,)


def test_avatar_must_be_a_url() -> None:
    assert _errors({"role": "lead", "email": "a@example.com", "avatar": "javascript:alert(1)"})[0][0] == (
        "avatar",
    )
