"""The companies-and-tags files in events/ are real events: each gives the answer its name promises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from intercom_contacts.handlers import api
from local.aws import LocalAws
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _answer(name: str, context: FakeLambdaContext) -> tuple[int, dict[str, Any]]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    answer = api.lambda_handler(event, context)
    return answer["statusCode"], json.loads(answer["body"])


def test_the_companies_and_tags_event_creates_an_attached_tagged_user(
    service_env: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # When the event file is handed to the API function
    status, body = _answer("api_create_with_companies_tags.json", lambda_context)
    # Then the user is created with both companies and all three tags, in the answer and in Intercom
    assert status == 201
    assert [c["company_id"] for c in body["companies"]] == ["acme-1", "globex-2"]
    assert [t["name"] for t in body["tags"]] == ["VIP", "Trial", "EU"]
    held = sandbox.contacts[body["id"]]
    assert held["companies"]["total_count"] == 2
    assert held["tags"]["total_count"] == 3


def test_the_invalid_companies_and_tags_event_names_each_field(
    service_env: LocalAws, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # When the event file is handed to the API function
    status, body = _answer("api_companies_tags_invalid.json", lambda_context)
    # Then it is refused, naming the company without company_id and the blank tag; Intercom is not called
    assert (status, body["code"]) == (422, "VALIDATION_ERROR")
    assert [f["field"] for f in body["fields"]] == ["companies.0.company_id", "tags.1"]
    assert sandbox.requests == []
