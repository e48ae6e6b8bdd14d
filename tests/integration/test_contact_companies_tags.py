"""Companies and tags on a contact (issue 20), through the API and the worker in-process, against moto
and the sandbox over HTTP: what Intercom ends up holding, what the caller, the run log and the bus are
told, and how a failed step is finished without making the contact twice."""

from __future__ import annotations

import time
from typing import Any

import pytest

from intercom_contacts.logic import contact_steps
from local.intercom_sandbox import IntercomSandbox, companies_tags
from tests.conftest import Configure
from tests.integration.conftest import LEAD, USER, BusEvents, CallApi, WorkerQueues

ACME = {"company_id": "acme-1", "name": "Acme", "plan": "Pro", "size": 40}
GLOBEX = {"company_id": "globex-2", "name": "Globex"}


def _creates(sandbox: IntercomSandbox) -> int:
    return sandbox.route_counts()["POST /contacts"]


def _listed(sandbox: IntercomSandbox, contact_id: str, kind: str) -> list[str]:
    """The ids the contact's `companies` or `tags` list shows, as GET /contacts/{id} answers it."""
    return sorted(item["id"] for item in sandbox.contacts[contact_id][kind]["data"])


def _ids_by_name(sandbox: IntercomSandbox) -> dict[str, str]:
    return {tag["name"]: tag_id for tag_id, tag in sandbox.tags.items()}


def test_a_contact_gets_two_companies_and_three_tags(
    call_api: CallApi, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    # Given a user with two companies and three tags
    body = {**USER, "companies": [ACME, GLOBEX], "tags": ["VIP", "Beta", "EU"]}
    # When it is posted
    answer = call_api(body)
    # Then it is created, attached to both companies, and tagged three times, in Intercom
    assert answer.status == 201
    contact_id = answer.body["id"]
    company_ids = {c["company_id"]: cid for cid, c in sandbox.companies.items()}
    assert sorted(company_ids) == ["acme-1", "globex-2"]
    assert _listed(sandbox, contact_id, "companies") == sorted(company_ids.values())
    tag_ids = _ids_by_name(sandbox)
    assert _listed(sandbox, contact_id, "tags") == sorted(tag_ids[n] for n in ("VIP", "Beta", "EU"))
    # And Intercom's create-contact body had neither field
    [create] = sandbox.requests_to("POST", "/contacts")[:1]
    assert "companies" not in create.json
    assert "tags" not in create.json
    # And the answer says what was done: Intercom's ids with your company_ids, and the tags
    assert answer.body["companies"] == [
        {"id": company_ids["acme-1"], "company_id": "acme-1"},
        {"id": company_ids["globex-2"], "company_id": "globex-2"},
    ]
    assert answer.body["tags"] == [{"id": tag_ids[n], "name": n} for n in ("VIP", "Beta", "EU")]
    # And the event carries the company_ids and the tag names
    [(kind, detail)] = bus_events.drain()
    assert kind == "Contact Created"
    assert detail["contact_id"] == contact_id
    assert detail["companies"] == ["acme-1", "globex-2"]
    assert detail["tags"] == ["VIP", "Beta", "EU"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"companies": [{"name": "Acme"}]}, "companies.0.company_id"),
        ({"companies": [{"company_id": "a", "employees": 3}]}, "companies.0.employees"),
        ({"tags": ["ok", " "]}, "tags.1"),
        ({"tags": ["t" * 101]}, "tags.0"),
    ],
)
def test_an_invalid_company_or_tag_is_a_422_naming_the_field(
    call_api: CallApi, sandbox: IntercomSandbox, extra: dict[str, Any], field: str
) -> None:
    # When a contact arrives with a company or a tag Intercom would refuse
    answer = call_api({**LEAD, **extra})
    # Then the caller is told which field, and Intercom was not called
    assert answer.status == 422
    assert answer.body["code"] == "VALIDATION_ERROR"
    assert [f["field"] for f in answer.body["fields"]] == [field]
    assert sandbox.requests == []


def test_a_tag_that_keeps_failing_is_finished_by_a_keyed_retry_without_a_second_contact(
    call_api: CallApi, sandbox: IntercomSandbox, configure: Configure, bus_events: BusEvents
) -> None:
    # Given Intercom's tag route fails for longer than one request retries
    configure(INTERCOM_MAX_ATTEMPTS="2")
    sandbox.fail_next(2, 503, path="/tags")
    body = {**LEAD, "companies": [ACME], "tags": ["VIP"]}
    # When a lead with a company and a tag is posted with a key
    first = call_api(body, headers={"Idempotency-Key": "signup-77"})
    # Then the caller is told the lead exists, and why the tag was not applied (Intercom's outage: 502)
    assert first.status == 502
    assert first.body["code"] == "INTERCOM_UNAVAILABLE"
    contact_id = first.body["contact_id"]
    assert list(sandbox.contacts) == [contact_id]
    assert _listed(sandbox, contact_id, "companies") != []
    assert _listed(sandbox, contact_id, "tags") == []
    # When the caller retries with the same key
    again = call_api(body, headers={"Idempotency-Key": "signup-77"})
    # Then the lead was not sent again, and the tag is applied
    assert again.status == 201
    assert again.body["id"] == contact_id
    assert _creates(sandbox) == 1
    assert _listed(sandbox, contact_id, "tags") == [_ids_by_name(sandbox)["VIP"]]
    assert again.body["tags"] == [{"id": _ids_by_name(sandbox)["VIP"], "name": "VIP"}]
    # And only the missing step was done again: the company was attached once, and the answer shows it
    assert sandbox.route_counts()["POST /contacts/{id}/companies"] == 1
    [company_id] = sandbox.companies
    assert again.body["companies"] == [{"id": company_id, "company_id": "acme-1"}]
    # And the bus heard of the failure with its contact, then of the creation
    events = bus_events.drain()
    assert [kind for kind, _ in events] == ["Contact Failed", "Contact Created"]
    assert events[0][1]["contact_id"] == contact_id
    assert events[0][1]["code"] == "INTERCOM_UNAVAILABLE"


def test_a_company_intercom_will_not_attach_fails_with_its_code_and_the_contact(
    call_api: CallApi, sandbox: IntercomSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a user who already has Intercom's maximum of companies
    monkeypatch.setattr(companies_tags, "MAX_COMPANIES_PER_CONTACT", 1)
    first = call_api({**USER, "companies": [ACME]})
    assert first.status == 201
    # When the same user is posted again with another company
    answer = call_api({**USER, "companies": [GLOBEX]})
    # Then the refusal is permanent, with its own code and the contact that exists
    assert answer.status == 422
    assert answer.body["code"] == "CONTACT_COMPANY_LIMIT_EXCEEDED"
    assert answer.body["contact_id"] == first.body["id"]
    assert len(sandbox.contacts) == 1


def test_a_keyed_retry_after_a_permanent_refusal_does_every_step_again(
    call_api: CallApi, sandbox: IntercomSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a lead whose second company Intercom refuses for good (the contact's company limit), the
    # first attached already
    monkeypatch.setattr(companies_tags, "MAX_COMPANIES_PER_CONTACT", 1)
    body = {**LEAD, "companies": [ACME, GLOBEX]}
    first = call_api(body, headers={"Idempotency-Key": "crm-9"})
    assert first.status == 422
    assert first.body["code"] == "CONTACT_COMPANY_LIMIT_EXCEEDED"
    # When the caller fixes it in Intercom (which may have undone what was done) and retries with the key
    monkeypatch.setattr(companies_tags, "MAX_COMPANIES_PER_CONTACT", 2)
    again = call_api(body, headers={"Idempotency-Key": "crm-9"})
    # Then the lead is replayed, not sent again, and every company is attached again, not only the rest
    assert again.status == 201
    assert again.body["id"] == first.body["contact_id"]
    assert _creates(sandbox) == 1
    attached = [r.json["id"] for r in sandbox.requests if r.route == "POST /contacts/{id}/companies"]
    ids = {c["company_id"]: cid for cid, c in sandbox.companies.items()}
    acme, globex = ids["acme-1"], ids["globex-2"]
    assert sorted(attached) == sorted([acme, globex, acme, globex])
    assert _listed(sandbox, again.body["id"], "companies") == sorted([acme, globex])


def test_a_batch_of_100_sharing_a_company_and_a_tag_costs_one_look_up_of_each(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox, bus_events: BusEvents
) -> None:
    # Given a batch of 100 leads of one company, each with the same tag
    contacts = [
        {**LEAD, "email": f"lead{n}@example.com", "companies": [ACME], "tags": ["Trial"]} for n in range(100)
    ]
    queued = call_api({"contacts": contacts}, path="/contacts/batch", headers={"Idempotency-Key": "import-1"})
    assert queued.status == 202
    # When the worker drains the queue
    while queues.run_worker()[1]:
        pass
    # Then Intercom holds one company and one tag, with every lead attached and tagged
    [company_id] = sandbox.companies
    [tag_id] = sandbox.tags
    assert len(sandbox.contacts) == 100
    for contact_id in sandbox.contacts:
        assert _listed(sandbox, contact_id, "companies") == [company_id]
        assert _listed(sandbox, contact_id, "tags") == [tag_id]
    # And the container looked the company and the tag up once each: 100 creates, attaches and taggings
    counts = sandbox.route_counts()
    assert counts["POST /companies"] == 1
    assert counts["POST /tags"] == 1
    assert (
        counts["POST /contacts"]
        == counts["POST /contacts/{id}/companies"]
        == counts["POST /contacts/{id}/tags"]
        == 100
    )
    # And the run log says what was done for each item
    log = call_api(method="GET", path=f"/contacts/batch/{queued.body['batch_id']}", query={"limit": "100"})
    assert log.body["counts"]["created"] == 100
    item = log.body["items"][0]
    assert item["companies"] == [{"id": company_id, "company_id": "acme-1"}]
    assert item["tags"] == [{"id": tag_id, "name": "Trial"}]
    # And each outcome event carries them
    created = [detail for kind, detail in bus_events.drain() if kind == "Contact Created"]
    assert len(created) == 100
    assert all(d["companies"] == ["acme-1"] and d["tags"] == ["Trial"] for d in created)


def test_transient_faults_on_the_company_and_tag_routes_end_with_everything_applied_once(
    queues: WorkerQueues, sandbox: IntercomSandbox, configure: Configure
) -> None:
    # Given the company and tag routes each fail more times than one attempt retries
    configure(INTERCOM_MAX_ATTEMPTS="1")
    sandbox.fail_next(2, 503, path="/companies")
    sandbox.fail_next(2, 500, path="/contacts/{id}/tags")
    for n in range(3):
        queues.send({**LEAD, "email": f"l{n}@example.com", "companies": [ACME], "tags": ["VIP"]})
    # When the worker receives the messages until none is left
    for _ in range(5):
        if not queues.run_worker()[1]:
            break
    # Then every lead exists once, attached and tagged, and nothing was dead-lettered
    assert len(sandbox.contacts) == 3
    assert _creates(sandbox) == 3
    [company_id], [tag_id] = list(sandbox.companies), list(sandbox.tags)
    for contact_id in sandbox.contacts:
        assert _listed(sandbox, contact_id, "companies") == [company_id]
        assert _listed(sandbox, contact_id, "tags") == [tag_id]
    assert queues.dead_letters() == {}


def test_a_batch_item_whose_step_fails_for_now_stays_pending_until_it_is_done(
    call_api: CallApi, queues: WorkerQueues, sandbox: IntercomSandbox, configure: Configure
) -> None:
    # Given a batch item whose tagging fails on the first receive
    configure(INTERCOM_MAX_ATTEMPTS="1")
    sandbox.fail_next(1, 503, path="/contacts/{id}/tags")
    queued = call_api({"contacts": [{**LEAD, "tags": ["VIP"]}]}, path="/contacts/batch")
    batch = f"/contacts/batch/{queued.body['batch_id']}"
    # When the worker receives it once
    queues.run_worker()
    # Then the item is not final: pending, with the step's error and the contact that exists
    [contact_id] = sandbox.contacts
    [item] = call_api(method="GET", path=batch).body["items"]
    assert item["status"] == "pending"
    assert item["code"] == "INTERCOM_UNAVAILABLE"
    assert item["contact_id"] == contact_id
    # When the worker receives it again
    queues.run_worker()
    # Then it is created, tagged, and says so
    [item] = call_api(method="GET", path=batch).body["items"]
    assert item["status"] == "created"
    assert item["tags"] == [{"id": _ids_by_name(sandbox)["VIP"], "name": "VIP"}]
    assert _listed(sandbox, contact_id, "tags") == list(sandbox.tags)


def test_a_redelivered_message_does_only_the_steps_its_failed_attempt_left(
    queues: WorkerQueues, sandbox: IntercomSandbox, configure: Configure
) -> None:
    # Given a lead with two companies and two tags, and a tagging that fails on the first receive
    configure(INTERCOM_MAX_ATTEMPTS="1")
    sandbox.fail_next(1, 503, path="/contacts/{id}/tags")
    queues.send({**LEAD, "companies": [ACME, GLOBEX], "tags": ["VIP", "Beta"]})
    failed, _ = queues.run_worker()
    assert len(failed) == 1
    [contact_id] = sandbox.contacts
    assert len(_listed(sandbox, contact_id, "companies")) == 2
    assert _listed(sandbox, contact_id, "tags") == []
    # When SQS delivers the message again
    failed, received = queues.run_worker()
    # Then the lead was not sent again, its companies were not attached again, and both tags are applied
    assert received
    assert failed == []
    counts = sandbox.route_counts()
    assert counts["POST /contacts"] == 1
    assert counts["POST /contacts/{id}/companies"] == 2
    assert counts["POST /contacts/{id}/tags"] == 1 + 2  # the failed one, then each tag once
    assert _listed(sandbox, contact_id, "tags") == sorted(sandbox.tags)
    assert queues.dead_letters() == {}


class _Died(BaseException):
    """The container dying (not an error the worker handles)."""


def test_a_worker_that_died_between_the_create_and_the_tagging_finishes_the_tagging(
    queues: WorkerQueues, sandbox: IntercomSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the worker dies right after Intercom created the lead, before tagging it
    queues.send({**LEAD, "tags": ["VIP"]})
    original = contact_steps.ContactSteps.apply

    def die(*args: Any, **kwargs: Any) -> Any:
        raise _Died

    monkeypatch.setattr(contact_steps.ContactSteps, "apply", die)
    with pytest.raises(_Died):
        queues.run_worker(visibility=1)
    assert len(sandbox.contacts) == 1
    assert sandbox.tags == {}
    time.sleep(1.5)  # the message's visibility timeout runs out, as after a dead invocation
    # When SQS delivers the message again to a live worker
    monkeypatch.setattr(contact_steps.ContactSteps, "apply", original)
    failed, received = queues.run_worker()
    # Then the lead was not sent again, and it is tagged
    assert received
    assert failed == []
    assert _creates(sandbox) == 1
    [contact_id] = sandbox.contacts
    assert _listed(sandbox, contact_id, "tags") == list(sandbox.tags)
