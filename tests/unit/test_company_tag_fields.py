"""`companies` and `tags` on a contact request: checked before anything is sent, never sent to Intercom
as contact fields, and kept on the queue message and in what an idempotency key is bound to."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from intercom_contacts.models.contact import ContactRequest, OnConflict, field_errors
from intercom_contacts.models.messages import body_fingerprint, to_message

LEAD = {"role": "lead", "email": "a@example.com"}


def _fields(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        ContactRequest.model_validate(body)
    return [problem.field for problem in field_errors(raised.value.errors())]


def test_companies_and_tags_are_not_contact_fields_for_intercom() -> None:
    # Given a lead with a company and a tag
    request = ContactRequest.model_validate(
        {**LEAD, "companies": [{"company_id": "acme", "name": "Acme", "size": 40}], "tags": ["VIP"]}
    )
    # When its Intercom body and its message are made
    message = to_message(request, OnConflict.RETURN, None)
    # Then Intercom's create-contact body has neither, and the queue message keeps both
    assert request.to_intercom() == LEAD
    assert '"companies":[{"company_id":"acme","name":"Acme","size":40}]' in message.body
    assert '"tags":["VIP"]' in message.body


def test_tags_are_trimmed_and_one_per_name_whatever_the_case() -> None:
    # Given tags that differ by spaces and case only
    request = ContactRequest.model_validate({**LEAD, "tags": [" VIP ", "vip", "Beta"]})
    # Then each is applied once, with its first spelling
    assert request.tags == ["VIP", "Beta"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"tags": [" "]}, "tags.0"),
        ({"tags": ["x" * 101]}, "tags.0"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"companies": [{"name": "no id"}]}, "companies.0.company_id"),
        ({"companies": [{"company_id": "c", "monthly_spend": 2**31}]}, "companies.0.monthly_spend"),
        ({"companies": [{"company_id": "c", "seats": 3}]}, "companies.0.seats"),
        (
            {"companies": [{"company_id": "c", "custom_attributes": {"a": [1]}}]},
            "companies.0.custom_attributes",
        ),
        ({"companies": [{"company_id": "c"}, {"company_id": "c"}]}, "companies"),
        ({"companies": [{"company_id": f"c{i}"} for i in range(11)]}, "companies"),
    ],
)
def test_an_invalid_company_or_tag_names_its_field(extra: dict[str, Any], field: str) -> None:
    # Given a contact whose company or tag Intercom would refuse, or that asks for too many
    # Then the caller is told which field to fix
    assert _fields({**LEAD, **extra}) == [field]


def test_a_key_is_bound_to_the_companies_and_tags_too() -> None:
    # Given the same contact with different tags
    plain = ContactRequest.model_validate(LEAD)
    tagged = ContactRequest.model_validate({**LEAD, "tags": ["VIP"]})
    # Then they hash differently (one key cannot stand for both), and a contact without companies or
    # tags hashes as it did before they existed
    assert body_fingerprint(plain, OnConflict.RETURN) != body_fingerprint(tagged, OnConflict.RETURN)
    assert plain.to_body() == plain.to_intercom() == LEAD
