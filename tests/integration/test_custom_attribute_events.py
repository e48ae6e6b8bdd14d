"""The custom-attribute files in events/ are real events: each gives the answer its name promises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intercom_contacts.handlers import api
from local.aws import LocalAws
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.mark.parametrize(
    ("name", "status", "code", "fields"),
    [
        ("api_custom_attributes_converted.json", 201, None, None),
        (
            "api_custom_attribute_invalid.json",
            422,
            "VALIDATION_ERROR",
            ["custom_attributes.seats", "custom_attributes.tier"],
        ),
        ("api_create_attributes.json", 201, None, None),
        (
            "api_create_attribute_invalid_name.json",
            422,
            "ATTRIBUTE_NAME_INVALID",
            ["custom_attributes.tier!"],
        ),
        ("api_attribute_create.json", 201, None, None),
        ("api_attribute_type_conflict.json", 409, "ATTRIBUTE_TYPE_CONFLICT", ["custom_attributes.seats"]),
        ("api_attributes_list.json", 200, None, None),
    ],
)
def test_custom_attribute_events_answer_as_named(
    service_env: LocalAws,
    sandbox: IntercomSandbox,
    lambda_context: FakeLambdaContext,
    name: str,
    status: int,
    code: str | None,
    fields: list[str] | None,
) -> None:
    # When the event file is handed to the API function
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    answer = api.lambda_handler(event, lambda_context)
    body = json.loads(answer["body"])
    # Then it answers as its name says, naming the attributes it refuses
    assert (answer["statusCode"], body.get("code")) == (status, code)
    assert [field["field"] for field in body.get("fields", [])] == (fields or [])
