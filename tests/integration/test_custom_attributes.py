"""Custom attributes end to end: checked against the workspace's data attributes before Intercom is
called, converted to their type, created on request. The handlers in-process, moto, and the Intercom
sandbox over HTTP, whose attributes are typed as Intercom's are (plan: string, seats: integer,
monthly_spend: float, paid_subscriber: boolean, contract_signed_at: date)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from intercom_contacts import services
from intercom_contacts.errors import CustomAttributesRefused
from intercom_contacts.intercom.data_attributes import DataAttributesApi
from intercom_contacts.logic.custom_attributes import WorkspaceAttributes
from intercom_contacts.models.contact import ContactRequest
from local.aws import LocalAws
from local.intercom_sandbox import DEFAULT_CUSTOM_ATTRIBUTES, IntercomSandbox
from tests.integration.conftest import LEAD, CallApi, WorkerQueues

FAR = 1e12  # a deadline no test reaches


@pytest.fixture
def api(service_env: LocalAws) -> DataAttributesApi:
    """The data attributes API over the service's own Intercom client, pointed at the sandbox."""
    return DataAttributesApi(services.intercom_client())


def _attribute_reads(sandbox: IntercomSandbox) -> int:
    return len(sandbox.requests_to("GET", "/data_attributes"))


def _lead(n: int, attributes: dict[str, Any]) -> dict[str, Any]:
    return {**LEAD, "email": f"lead{n}@example.com", "custom_attributes": attributes}


def _drain(queues: WorkerQueues) -> None:
    for _ in range(20):
        if not queues.run_worker()[1]:
            return
    raise AssertionError("the queue never emptied")


@pytest.mark.parametrize(
    ("name", "sent", "stored"),
    [
        ("seats", "12", 12),
        ("seats", " -3 ", -3),
        ("seats", 12.0, 12),
        ("monthly_spend", "12.5", 12.5),
        ("monthly_spend", "1e3", 1000.0),
        ("paid_subscriber", "true", True),
        ("paid_subscriber", "No", False),
        ("contract_signed_at", "2025-01-31", 1738281600),
        ("contract_signed_at", "2025-01-31T10:00:00+01:00", 1738314000),
        ("contract_signed_at", "2025-01-31T09:00:00Z", 1738314000),
        ("contract_signed_at", "1738281600", 1738281600),
        ("plan", "pro", "pro"),
        ("plan", None, None),
    ],
)
def test_a_value_whose_text_is_unambiguous_reaches_intercom_typed(
    call_api: CallApi, sandbox: IntercomSandbox, name: str, sent: Any, stored: Any
) -> None:
    # When a contact's custom attribute arrives as text (or as a number of another JSON type)
    answer = call_api({**LEAD, "custom_attributes": {name: sent}})
    # Then Intercom receives, and stores, the value of the attribute's type
    assert answer.status == 201
    [post] = sandbox.requests_to("POST", "/contacts")
    assert post.json["custom_attributes"] == {name: stored}
    assert type(post.json["custom_attributes"][name]) is type(stored)
    assert sandbox.contacts[answer.body["id"]]["custom_attributes"] == {name: stored}


@pytest.mark.parametrize(
    ("name", "value", "needs"),
    [
        ("no_such_attribute", 1, "is not a custom attribute of the Intercom workspace"),
        ("seats", "12.5", "is an integer attribute"),
        ("seats", "many", "is an integer attribute"),
        ("seats", True, "is an integer attribute"),
        ("monthly_spend", "NaN", "is a float attribute"),
        ("paid_subscriber", "maybe", "is a boolean attribute"),
        ("paid_subscriber", 1, "is a boolean attribute"),
        ("contract_signed_at", "2025-01-31T10:00:00", "is a date attribute"),
        ("contract_signed_at", "31/01/2025", "is a date attribute"),
        ("contract_signed_at", -1, "is a date attribute"),
        ("plan", 12, "is a string attribute"),
    ],
)
def test_a_value_intercom_would_refuse_is_a_422_and_intercom_is_not_called_for_the_contact(
    call_api: CallApi, sandbox: IntercomSandbox, name: str, value: Any, needs: str
) -> None:
    # When a contact carries an unknown attribute, or a value its attribute's type does not take
    answer = call_api({**LEAD, "custom_attributes": {"source": "web", name: value}})
    # Then the caller is told which attribute, and what it needs
    assert (answer.status, answer.body["code"]) == (422, "VALIDATION_ERROR")
    [field] = answer.body["fields"]
    assert field["field"] == f"custom_attributes.{name}"
    assert field["message"].startswith(needs)
    # And no call was spent on the contact
    assert sandbox.requests_to("POST", "/contacts") == []


def test_an_attribute_the_api_may_not_write_is_refused_before_sending(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given an attribute only Intercom's UI may write
    sandbox.define_custom_attribute("score", "integer", api_writable=False)
    # When a contact carries it
    answer = call_api({**LEAD, "custom_attributes": {"score": 1}})
    # Then it is refused, saying why, and Intercom is not called for the contact
    assert (answer.status, answer.body["fields"][0]["field"]) == (422, "custom_attributes.score")
    assert "api_writable" in answer.body["fields"][0]["message"]
    assert sandbox.requests_to("POST", "/contacts") == []


def test_the_attribute_list_is_read_once_per_container(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    # When three contacts with known custom attributes are posted
    for n in range(3):
        assert call_api(_lead(n, {"seats": n, "plan": "pro"})).status == 201
    # Then the workspace's attributes were read once
    assert _attribute_reads(sandbox) == 1


def test_a_contact_without_custom_attributes_does_not_read_the_list(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    assert call_api(LEAD).status == 201
    assert _attribute_reads(sandbox) == 0


def test_an_attribute_created_in_intercom_later_is_found_by_reading_the_list_again(
    sandbox: IntercomSandbox, api: DataAttributesApi
) -> None:
    # Given a container that read the list, and an attribute then created in Intercom's UI
    now = [0.0]
    attributes = WorkspaceAttributes(api, clock=lambda: now[0])
    attributes.checked(_request({"plan": "pro"}), create=False, deadline=FAR)
    sandbox.define_custom_attribute("tier")
    # When a request names it within a few seconds of the last read, then after them
    with pytest.raises(CustomAttributesRefused, match=r"custom_attributes\.tier"):
        attributes.checked(_request({"tier": "gold"}), create=False, deadline=FAR)
    now[0] = 5.0
    checked = attributes.checked(_request({"tier": "gold"}), create=False, deadline=FAR)
    # Then the first is refused without a second read, the second reads the list again and passes
    assert checked.custom_attributes == {"tier": "gold"}
    assert _attribute_reads(sandbox) == 2


def test_create_attributes_creates_each_missing_attribute_with_its_values_json_type(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # When a contact with attributes the workspace lacks is posted with create_attributes=true
    values = {"tier": "gold", "logins": 3, "vip": True, "ratio": 0.5, "plan": "pro"}
    answer = call_api({**LEAD, "custom_attributes": values}, query={"create_attributes": "true"})
    # Then each was created (model contact, typed as its JSON value), before the contact
    assert answer.status == 201
    created = [r.json for r in sandbox.requests_to("POST", "/data_attributes")]
    assert created == [
        {"name": "tier", "model": "contact", "data_type": "string"},
        {"name": "logins", "model": "contact", "data_type": "integer"},
        {"name": "vip", "model": "contact", "data_type": "boolean"},
        {"name": "ratio", "model": "contact", "data_type": "float"},
    ]
    assert [r.path for r in sandbox.requests][-1] == "/contacts"
    assert sandbox.contacts[answer.body["id"]]["custom_attributes"] == values


def test_without_create_attributes_nothing_is_created(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    answer = call_api({**LEAD, "custom_attributes": {"tier": "gold"}})
    assert answer.status == 422
    assert sandbox.requests_to("POST", "/data_attributes") == []


def test_an_attribute_to_create_with_a_null_value_is_refused(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    answer = call_api({**LEAD, "custom_attributes": {"tier": None}}, query={"create_attributes": "true"})
    assert (answer.status, answer.body["fields"][0]["field"]) == (422, "custom_attributes.tier")
    assert "not null" in answer.body["fields"][0]["message"]
    assert sandbox.requests_to("POST", "/data_attributes") == []


@pytest.mark.parametrize("name", ["tier!", "Email"])
def test_a_name_intercom_will_not_create_is_a_clear_error(
    call_api: CallApi, sandbox: IntercomSandbox, name: str
) -> None:
    # When an attribute Intercom refuses to create (characters, or a standard attribute's name) is sent
    answer = call_api({**LEAD, "custom_attributes": {name: "x"}}, query={"create_attributes": "true"})
    # Then the caller gets a stable code naming the attribute, and no contact is sent
    assert (answer.status, answer.body["code"]) == (422, "ATTRIBUTE_NAME_INVALID")
    assert answer.body["fields"][0]["field"] == f"custom_attributes.{name}"
    assert sandbox.requests_to("POST", "/contacts") == []


def test_the_workspaces_limit_of_250_is_a_clear_error_without_a_creation_call(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given a workspace holding 250 custom attributes
    for n in range(250 - len(DEFAULT_CUSTOM_ATTRIBUTES)):
        sandbox.define_custom_attribute(f"a{n}")
    # When a contact asks for one more to be created
    answer = call_api({**LEAD, "custom_attributes": {"tier": "x"}}, query={"create_attributes": "true"})
    # Then it is refused with its own code, without trying to create it or the contact
    assert (answer.status, answer.body["code"]) == (422, "ATTRIBUTE_LIMIT_REACHED")
    assert answer.body["fields"][0]["field"] == "custom_attributes.tier"
    assert sandbox.requests_to("POST", "/data_attributes") == []
    assert sandbox.requests_to("POST", "/contacts") == []


def test_an_attribute_another_container_created_meanwhile_counts_as_created(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given a container that read the list, then another one created "tier" as a string
    assert call_api(_lead(0, {"plan": "pro"})).status == 201
    sandbox.define_custom_attribute("tier")
    # When this container is asked to create it too
    answer = call_api(_lead(1, {"tier": "gold"}), query={"create_attributes": "true"})
    # Then Intercom's duplicate answer counts as success: the list is read again and the contact created
    assert answer.status == 201
    assert [r.status for r in sandbox.requests_to("POST", "/data_attributes")] == [400]
    assert _attribute_reads(sandbox) == 2
    assert sandbox.contacts[answer.body["id"]]["custom_attributes"] == {"tier": "gold"}


def test_concurrent_requests_create_an_attribute_once(
    sandbox: IntercomSandbox, api: DataAttributesApi
) -> None:
    # Given one container's attributes
    attributes = WorkspaceAttributes(api)
    # When eight requests on threads ask for the same missing attribute to be created
    results: list[Any] = []

    def create() -> None:
        results.append(attributes.checked(_request({"tier": "gold"}), create=True, deadline=FAR))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then it was created once, and every request passed
    assert len(sandbox.requests_to("POST", "/data_attributes")) == 1
    assert [r.custom_attributes for r in results] == [{"tier": "gold"}] * 8


def test_when_the_list_cannot_be_read_post_contacts_answers_intercoms_transient_error(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given Intercom fails every attempt to list the attributes
    sandbox.fail_next(10, 503, method="GET", path_prefix="/data_attributes")
    # When a contact with custom attributes is posted
    answer = call_api({**LEAD, "custom_attributes": {"plan": "pro"}})
    # Then the caller gets the usual transient error, and the contact was not sent
    assert (answer.status, answer.body["code"]) == (502, "INTERCOM_UNAVAILABLE")
    assert sandbox.requests_to("POST", "/contacts") == []


def test_batch_items_are_checked_and_converted_at_intake(
    call_api: CallApi, sandbox: IntercomSandbox, queues: WorkerQueues
) -> None:
    # When a batch holds a convertible item, a mistyped one and one with an unknown attribute
    contacts = [_lead(0, {"seats": "12"}), _lead(1, {"seats": "many"}), _lead(2, {"tier": "gold"})]
    answer = call_api({"contacts": contacts}, path="/contacts/batch")
    # Then the first is queued, the others rejected naming their attribute
    assert answer.status == 202
    items = answer.body["items"]
    assert [item["status"] for item in items] == ["queued", "rejected", "rejected"]
    assert [(i["code"], i["fields"][0]["field"]) for i in items[1:]] == [
        ("VALIDATION_ERROR", "custom_attributes.seats"),
        ("VALIDATION_ERROR", "custom_attributes.tier"),
    ]
    assert "is an integer attribute" in items[1]["fields"][0]["message"]
    # And the queued one reaches Intercom typed; the rejected never do
    _drain(queues)
    [post] = sandbox.requests_to("POST", "/contacts")
    assert post.json["custom_attributes"] == {"seats": 12}


def test_a_batch_with_create_attributes_creates_each_missing_attribute_once(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    contacts = [_lead(n, {"tier": "gold"}) for n in range(5)]
    answer = call_api({"contacts": contacts}, path="/contacts/batch", query={"create_attributes": "true"})
    assert (answer.status, answer.body["queued"]) == (202, 5)
    assert [r.json["name"] for r in sandbox.requests_to("POST", "/data_attributes")] == ["tier"]


def test_when_the_list_cannot_be_read_at_intake_items_are_queued_and_the_worker_checks_them(
    call_api: CallApi, sandbox: IntercomSandbox, queues: WorkerQueues
) -> None:
    # Given Intercom cannot list the attributes while a batch is posted
    sandbox.fail_next(10, 503, method="GET", path_prefix="/data_attributes")
    contacts = [_lead(0, {"seats": "12"}), _lead(1, {"seats": "many"})]
    answer = call_api({"contacts": contacts}, path="/contacts/batch")
    # Then intake does not depend on it: both items are queued
    assert (answer.status, answer.body["queued"]) == (202, 2)
    # When Intercom is back and the worker takes them
    sandbox.clear_faults()
    _drain(queues)
    # Then the worker checked them: the valid one was converted and sent, the other dead-lettered
    [post] = sandbox.requests_to("POST", "/contacts")
    assert post.json["custom_attributes"] == {"seats": 12}
    [dead] = queues.dead_letters().values()
    assert dead["ErrorCode"] == "VALIDATION_ERROR"
    assert "custom_attributes.seats" in dead["ErrorMessage"]


def test_a_message_sent_straight_to_the_queue_is_checked_by_the_worker(
    sandbox: IntercomSandbox, queues: WorkerQueues
) -> None:
    # Given two messages another producer sent: one convertible, one with an unknown attribute
    queues.send(_lead(0, {"paid_subscriber": "yes"}))
    queues.send(_lead(1, {"tier": "gold"}))
    # When the worker takes them (until none is left: an unknown one is tried again, in case the list
    # it read moments before predates the attribute)
    _drain(queues)
    # Then the first was sent typed, the second went to the DLQ without being sent
    [post] = sandbox.requests_to("POST", "/contacts")
    assert post.json["custom_attributes"] == {"paid_subscriber": True}
    dead = queues.dead_letters()
    assert [attributes["ErrorCode"] for attributes in dead.values()] == ["VALIDATION_ERROR"]
    assert "custom_attributes.tier" in next(iter(dead.values()))["ErrorMessage"]


def test_the_worker_retries_a_message_when_the_list_cannot_be_read(
    sandbox: IntercomSandbox, queues: WorkerQueues
) -> None:
    # Given Intercom cannot list the attributes
    sandbox.fail_next(10, 503, method="GET", path_prefix="/data_attributes")
    queues.send(_lead(0, {"seats": 2}))
    # When the worker takes the message
    failed, _ = queues.run_worker()
    # Then it is tried again later, not dead-lettered
    assert len(failed) == 1
    assert queues.dead_letters() == {}


def test_the_worker_tries_again_later_an_attribute_created_since_it_read_the_list(
    sandbox: IntercomSandbox, queues: WorkerQueues
) -> None:
    # Given a worker container that has just read the list, and an attribute created in Intercom since
    queues.send(_lead(0, {"plan": "pro"}))
    assert queues.run_worker()[0] == []
    sandbox.define_custom_attribute("tier")
    # When a message names it before the container may read the list again
    queues.send(_lead(1, {"tier": "gold"}))
    failed, _ = queues.run_worker()
    # Then the message is tried again later, when the list is read again, not dead-lettered
    assert len(failed) == 1
    assert queues.dead_letters() == {}
    assert len(sandbox.requests_to("POST", "/contacts")) == 1


def test_a_batch_asks_intercom_once_about_a_name_it_refuses(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # When three items of a batch ask for the same attribute, whose name Intercom refuses, to be created
    contacts = [_lead(n, {"tier!": "gold"}) for n in range(3)]
    answer = call_api({"contacts": contacts}, path="/contacts/batch", query={"create_attributes": "true"})
    # Then each item is rejected with the name's code, after a single creation call
    assert [(i["status"], i["code"]) for i in answer.body["items"]] == [
        ("rejected", "ATTRIBUTE_NAME_INVALID")
    ] * 3
    assert len(sandbox.requests_to("POST", "/data_attributes")) == 1


@pytest.mark.slow
def test_a_batch_of_1000_contacts_costs_one_attribute_list_read(
    call_api: CallApi, sandbox: IntercomSandbox, queues: WorkerQueues
) -> None:
    # Given 1,000 contacts with custom attributes, as text
    contacts = [_lead(n, {"seats": str(n), "paid_subscriber": "yes", "plan": "pro"}) for n in range(1000)]
    # When they are posted as a batch and the worker (the same container) creates them all
    answer = call_api({"contacts": contacts}, path="/contacts/batch")
    assert (answer.status, answer.body["queued"]) == (202, 1000)
    _drain(queues)
    # Then each reached Intercom typed, and the attribute list was read once in all
    posts = sandbox.requests_to("POST", "/contacts")
    assert sorted(p.json["custom_attributes"]["seats"] for p in posts) == list(range(1000))
    assert _attribute_reads(sandbox) == 1


def _request(attributes: dict[str, Any]) -> ContactRequest:
    return ContactRequest.model_validate({**LEAD, "custom_attributes": attributes})
