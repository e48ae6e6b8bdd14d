"""The Intercom client's companies and tags modules against the sandbox over HTTP: what Intercom ends
up holding, how many look-ups a container spends, and how each refusal reaches the caller."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from intercom_contacts import services
from intercom_contacts.errors import (
    CompanyLimitReached,
    CompanyRejected,
    ContactNotFound,
    TagRejected,
)
from intercom_contacts.intercom.companies import CompaniesApi
from intercom_contacts.intercom.tags import TagsApi
from local.aws import LocalAws
from local.intercom_sandbox import IntercomSandbox, companies_tags

FAR = 1e12  # a deadline no test reaches
ACME = {"company_id": "acme-1", "name": "Acme", "plan": "Pro", "size": 40}


@pytest.fixture
def companies(service_env: LocalAws) -> CompaniesApi:
    """A container's companies API over the service's own Intercom client, pointed at the sandbox."""
    return CompaniesApi(services.intercom_client())


@pytest.fixture
def tags(service_env: LocalAws) -> TagsApi:
    return TagsApi(services.intercom_client())


def _contact(sandbox: IntercomSandbox, n: int = 0) -> str:
    return str(sandbox.seed_contact(email=f"person{n}@example.com")["id"])


def _listed(sandbox: IntercomSandbox, contact_id: str, kind: str) -> list[str]:
    """The ids the contact's `companies` or `tags` list shows, as GET /contacts/{id} answers it."""
    return [item["id"] for item in sandbox.contacts[contact_id][kind]["data"]]


def test_a_contact_gets_two_companies_and_three_tags(
    sandbox: IntercomSandbox, companies: CompaniesApi, tags: TagsApi
) -> None:
    # Given a contact
    contact_id = _contact(sandbox)
    # When two companies are attached to it and three tags applied
    attached = [
        companies.attach(contact_id, ACME, deadline=FAR),
        companies.attach(contact_id, {"company_id": "globex-2", "name": "Globex"}, deadline=FAR),
    ]
    applied = [tags.tag_contact(contact_id, name, deadline=FAR) for name in ("VIP", "Beta", "EU")]
    # Then Intercom holds both companies, with their fields, and the contact lists them and the tags
    assert [c.company_id for c in attached] == ["acme-1", "globex-2"]
    assert sorted(c["name"] for c in sandbox.companies.values()) == ["Acme", "Globex"]
    assert sandbox.companies[attached[0].id]["plan"]["name"] == "Pro"
    assert _listed(sandbox, contact_id, "companies") == [c.id for c in attached]
    assert [t.name for t in applied] == ["VIP", "Beta", "EU"]
    assert _listed(sandbox, contact_id, "tags") == [t.id for t in applied]


def test_a_hundred_contacts_of_one_company_and_one_tag_cost_one_look_up_of_each(
    sandbox: IntercomSandbox, companies: CompaniesApi, tags: TagsApi
) -> None:
    # Given a hundred contacts
    contact_ids = [_contact(sandbox, n) for n in range(100)]

    def label(contact_id: str) -> None:
        companies.attach(contact_id, ACME, deadline=FAR)
        tags.tag_contact(contact_id, "Imported", deadline=FAR)

    # When each is given the same company and tag, on eight threads as the worker handles records
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(label, contact_ids))
    # Then Intercom holds one company and one tag, on every contact
    assert len(sandbox.companies) == len(sandbox.tags) == 1
    [company_id], [tag_id] = sandbox.companies, sandbox.tags
    assert all(_listed(sandbox, c, "companies") == [company_id] for c in contact_ids)
    assert all(_listed(sandbox, c, "tags") == [tag_id] for c in contact_ids)
    # And the company and the tag were each looked up once, however many threads wanted them at once
    counts = sandbox.route_counts()
    assert (counts["POST /companies"], counts["POST /tags"]) == (1, 1)
    assert (counts["POST /contacts/{id}/companies"], counts["POST /contacts/{id}/tags"]) == (100, 100)


@pytest.mark.parametrize("path", ["/companies", "/tags", "/contacts/{id}/companies", "/contacts/{id}/tags"])
def test_transient_failures_of_a_route_are_retried_to_success(
    sandbox: IntercomSandbox, companies: CompaniesApi, tags: TagsApi, path: str
) -> None:
    # Given a contact, and Intercom failing the next two calls to one route (a 503, then a 429)
    contact_id = _contact(sandbox)
    sandbox.fail_next(1, 503, path=path)
    sandbox.fail_next(1, 429, path=path)
    # When the contact is given a company and a tag
    company = companies.attach(contact_id, ACME, deadline=FAR)
    tag = tags.tag_contact(contact_id, "VIP", deadline=FAR)
    # Then both are applied, once each, after the failed calls were retried
    assert _listed(sandbox, contact_id, "companies") == [company.id]
    assert _listed(sandbox, contact_id, "tags") == [tag.id]
    assert (len(sandbox.companies), len(sandbox.tags)) == (1, 1)
    assert sandbox.route_counts()[f"POST {path}"] == 3


def test_attaching_and_tagging_again_from_a_new_container_is_harmless(
    sandbox: IntercomSandbox, companies: CompaniesApi, tags: TagsApi
) -> None:
    # Given a contact with a company and a tag, given by one container
    contact_id = _contact(sandbox)
    first = (
        companies.attach(contact_id, ACME, deadline=FAR),
        tags.tag_contact(contact_id, "VIP", deadline=FAR),
    )
    # When another container (nothing cached) gives it the same again, as a retried record would
    client = services.intercom_client()
    again = (
        CompaniesApi(client).attach(contact_id, ACME, deadline=FAR),
        TagsApi(client).tag_contact(contact_id, "vip", deadline=FAR),
    )
    # Then both succeed with the same company and tag, and the contact holds each once
    assert again == first
    assert _listed(sandbox, contact_id, "companies") == [first[0].id]
    assert _listed(sandbox, contact_id, "tags") == [first[1].id]


def test_a_company_sent_with_other_fields_is_saved_again(
    sandbox: IntercomSandbox, companies: CompaniesApi
) -> None:
    # When three contacts bring the same company: as Acme, as Acme Inc, then as Acme again
    names = ["Acme", "Acme Inc", "Acme"]
    for n, name in enumerate(names):
        companies.attach(_contact(sandbox, n), {**ACME, "name": name}, deadline=FAR)
    # Then each change of fields was saved (the last ones hold), in one company
    assert [r.json["name"] for r in sandbox.requests_to("POST", "/companies")] == names
    [company] = sandbox.companies.values()
    assert company["name"] == "Acme"


def test_a_company_or_tag_deleted_in_intercom_is_saved_again_once(
    sandbox: IntercomSandbox, companies: CompaniesApi, tags: TagsApi
) -> None:
    # Given a container that attached a company and applied a tag, both then deleted in Intercom
    first_contact = _contact(sandbox, 0)
    old_company = companies.attach(first_contact, ACME, deadline=FAR)
    old_tag = tags.tag_contact(first_contact, "VIP", deadline=FAR)
    sandbox.delete_company(old_company.id)
    sandbox.delete_tag(old_tag.id)
    # When another contact is given them
    contact_id = _contact(sandbox, 1)
    company = companies.attach(contact_id, ACME, deadline=FAR)
    tag = tags.tag_contact(contact_id, "VIP", deadline=FAR)
    # Then each was created again in Intercom and applied
    assert company.id != old_company.id
    assert tag.id != old_tag.id
    assert _listed(sandbox, contact_id, "companies") == [company.id]
    assert _listed(sandbox, contact_id, "tags") == [tag.id]


def test_the_company_limit_is_a_permanent_refusal_with_its_own_code(
    sandbox: IntercomSandbox, companies: CompaniesApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a contact at Intercom's company limit (1 here instead of 1,000, to stay quick)
    monkeypatch.setattr(companies_tags, "MAX_COMPANIES_PER_CONTACT", 1)
    contact_id = _contact(sandbox)
    companies.attach(contact_id, ACME, deadline=FAR)
    # When another company is attached
    with pytest.raises(CompanyLimitReached) as refused:
        companies.attach(contact_id, {"company_id": "globex-2"}, deadline=FAR)
    # Then the caller gets a permanent error with its own code, saying what to do, and no retry was spent
    assert (refused.value.code, refused.value.retryable) == ("CONTACT_COMPANY_LIMIT_EXCEEDED", False)
    assert "Detach companies" in refused.value.message
    assert sandbox.route_counts()["POST /contacts/{id}/companies"] == 2


def test_a_company_intercom_refuses_is_a_permanent_error_naming_it(
    sandbox: IntercomSandbox, companies: CompaniesApi
) -> None:
    # When a company's fields break Intercom's schema
    with pytest.raises(CompanyRejected) as refused:
        companies.attach(_contact(sandbox), {"company_id": "acme-1", "size": "many"}, deadline=FAR)
    # Then the caller gets a permanent error naming the company, and nothing was attached
    assert (refused.value.code, refused.value.retryable) == ("COMPANY_REJECTED", False)
    assert "'acme-1'" in refused.value.message
    assert sandbox.route_counts()["POST /contacts/{id}/companies"] == 0


def test_a_tag_intercom_refuses_is_a_permanent_error_naming_it(
    sandbox: IntercomSandbox, tags: TagsApi
) -> None:
    # When a tag's name is one Intercom refuses
    with pytest.raises(TagRejected) as refused:
        tags.tag_contact(_contact(sandbox), "   ", deadline=FAR)
    # Then the caller gets a permanent error naming the tag, and no contact was tagged
    assert (refused.value.code, refused.value.retryable) == ("TAG_REJECTED", False)
    assert "'   '" in refused.value.message
    assert sandbox.route_counts()["POST /contacts/{id}/tags"] == 0


def test_a_contact_intercom_no_longer_has_is_a_clear_error(
    sandbox: IntercomSandbox, companies: CompaniesApi, tags: TagsApi
) -> None:
    # When a company and a tag are given to a contact Intercom does not have
    missing = "5ba682d23d7cf92bef87bfd4"
    with pytest.raises(ContactNotFound) as no_company:
        companies.attach(missing, ACME, deadline=FAR)
    with pytest.raises(ContactNotFound) as no_tag:
        tags.tag_contact(missing, "VIP", deadline=FAR)
    # Then each says so with its own code, and the tag was not looked up again as if it were missing
    assert no_company.value.code == no_tag.value.code == "CONTACT_NOT_FOUND"
    assert "send the contact again" in no_tag.value.message
    assert sandbox.route_counts()["POST /tags"] == 1
