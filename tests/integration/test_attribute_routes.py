"""`GET` and `POST /contacts/attributes`: the workspace's custom attributes, and one created with the type
the caller asks for (the importer's `--create-attributes`). The API handler in-process, moto, and the
Intercom sandbox over HTTP, whose attributes at start are typed (seats: integer, plan: string, ...)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from intercom_contacts import services
from intercom_contacts.intercom.data_attributes import DataAttribute, DataAttributesApi
from intercom_contacts.logic.custom_attributes import WorkspaceAttributes
from local.aws import LocalAws
from local.intercom_sandbox import DEFAULT_CUSTOM_ATTRIBUTES, IntercomSandbox
from tests.integration.conftest import CallApi

FAR = 1e12  # a deadline no test reaches


def _create(call_api: CallApi, name: str, data_type: str) -> tuple[int, Any]:
    answer = call_api({"name": name, "data_type": data_type}, path="/contacts/attributes")
    return answer.status, answer.body


def _sandbox_types() -> dict[str, str]:
    """The workspace's custom attributes as Intercom (the sandbox) lists them now."""
    listed = DataAttributesApi(services.intercom_client()).custom_attributes(deadline=FAR)
    return {name: attribute.data_type for name, attribute in listed.items()}


def test_an_attribute_the_workspace_lacks_is_created_with_the_type_asked_for(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # When a date attribute the workspace lacks is asked for
    status, body = _create(call_api, "renewal_date", "date")
    # Then it is created in Intercom as a date (which a value's JSON type could never make), and answered 201
    assert (status, body) == (201, {"name": "renewal_date", "data_type": "date", "api_writable": True})
    assert [r.json for r in sandbox.requests_to("POST", "/data_attributes")] == [
        {"name": "renewal_date", "model": "contact", "data_type": "date"}
    ]
    assert _sandbox_types()["renewal_date"] == "date"


def test_an_attribute_that_exists_with_that_type_is_answered_200_without_a_creation(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    status, body = _create(call_api, "seats", "integer")
    assert (status, body["data_type"]) == (200, "integer")
    assert sandbox.requests_to("POST", "/data_attributes") == []


def test_an_attribute_that_exists_with_another_type_is_a_409_naming_both_types(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # When an attribute the workspace has as an integer is asked for as a date
    answer = call_api({"name": "seats", "data_type": "date"}, path="/contacts/attributes")
    # Then the caller is told it exists as an integer, and nothing is created or changed
    assert (answer.status, answer.body["code"]) == (409, "ATTRIBUTE_TYPE_CONFLICT")
    [field] = answer.body["fields"]
    assert field["field"] == "custom_attributes.seats"
    assert field["message"].startswith("exists as an integer attribute, not date")
    assert sandbox.requests_to("POST", "/data_attributes") == []
    assert _sandbox_types()["seats"] == "integer"


def test_a_name_intercom_refuses_is_attribute_name_invalid(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # When a name Intercom will not create is asked for
    answer = call_api({"name": "tier!", "data_type": "string"}, path="/contacts/attributes")
    # Then the caller gets its stable code, naming the attribute and what to do
    assert (answer.status, answer.body["code"]) == (422, "ATTRIBUTE_NAME_INVALID")
    [field] = answer.body["fields"]
    assert field["field"] == "custom_attributes.tier!"
    assert "Rename it" in field["message"]
    assert "tier!" not in _sandbox_types()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a.b", "data_type": "string"}, "name"),
        ({"name": "tier", "data_type": "datetime"}, "data_type"),
        ({"name": "tier"}, "data_type"),
        ({"name": "tier", "data_type": "string", "model": "company"}, "model"),
    ],
)
def test_an_invalid_body_is_a_422_before_intercom_is_called(
    call_api: CallApi, sandbox: IntercomSandbox, body: dict[str, str], field: str
) -> None:
    answer = call_api(body, path="/contacts/attributes")
    assert (answer.status, answer.body["code"]) == (422, "VALIDATION_ERROR")
    assert [problem["field"] for problem in answer.body["fields"]] == [field]
    assert sandbox.requests == []


def test_the_workspaces_limit_of_250_is_attribute_limit_reached(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given a workspace holding 250 custom attributes
    for n in range(250 - len(DEFAULT_CUSTOM_ATTRIBUTES)):
        sandbox.define_custom_attribute(f"a{n}")
    # When one more is asked for
    status, body = _create(call_api, "tier", "string")
    # Then it is refused with its own code, without a creation call
    assert (status, body["code"]) == (422, "ATTRIBUTE_LIMIT_REACHED")
    assert sandbox.requests_to("POST", "/data_attributes") == []


def test_concurrent_callers_create_an_attribute_once_and_one_of_them_is_told_it_created_it(
    service_env: LocalAws, sandbox: IntercomSandbox
) -> None:
    # Given one container's attributes
    attributes = WorkspaceAttributes(DataAttributesApi(services.intercom_client()))
    results: list[tuple[DataAttribute, bool]] = []

    # When eight requests on threads ask for the same missing attribute
    def ensure() -> None:
        results.append(attributes.ensure("renewal_date", "date", deadline=FAR))

    threads = [threading.Thread(target=ensure) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then Intercom was asked once, one caller created it, and all got the date attribute
    assert len(sandbox.requests_to("POST", "/data_attributes")) == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert {attribute.data_type for attribute, _ in results} == {"date"}


def test_the_attribute_list_is_the_workspaces_custom_attributes_with_their_types(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given an attribute only Intercom's UI may write
    sandbox.define_custom_attribute("score", "integer", api_writable=False)
    # When the list is asked for
    answer = call_api(method="GET", path="/contacts/attributes")
    # Then it holds every custom attribute with its type, and none of the standard ones
    assert answer.status == 200
    listed = {item["name"]: item for item in answer.body["attributes"]}
    assert {name: item["data_type"] for name, item in listed.items()} == {
        **DEFAULT_CUSTOM_ATTRIBUTES,
        "score": "integer",
    }
    assert listed["score"]["api_writable"] is False
