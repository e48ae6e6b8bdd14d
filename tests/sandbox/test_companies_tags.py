"""The sandbox's companies and tags routes behave as Intercom's documented ones do, over real HTTP,
their answers checked against Intercom's schemas (local/intercom_sandbox/schema/)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3

from local.intercom_sandbox import IntercomSandbox, companies_tags
from tests.conftest import TOKEN  # the `sandbox` fixture (tests/conftest.py) serves this token

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json", "Intercom-Version": "2.16"}
http = urllib3.PoolManager(retries=False, timeout=5)


def _call(
    sandbox: IntercomSandbox, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    response = http.request(
        method,
        sandbox.url + path,
        body=None if body is None else json.dumps(body),
        headers=HEADERS if headers is None else headers,
    )
    return response.status, json.loads(response.data)


def _error(answer: tuple[int, Any]) -> tuple[int, str, str]:
    status, body = answer
    return status, body["errors"][0]["code"], body["errors"][0]["message"]


def _contact(sandbox: IntercomSandbox, email: str = "a@example.com") -> str:
    status, contact = _call(sandbox, "POST", "/contacts", {"role": "user", "email": email})
    assert status == 200
    return str(contact["id"])


def _company(sandbox: IntercomSandbox, company_id: str = "acme", **fields: Any) -> dict[str, Any]:
    status, company = _call(sandbox, "POST", "/companies", {"company_id": company_id, **fields})
    assert status == 200
    return dict(company)


def _tag(sandbox: IntercomSandbox, name: str) -> dict[str, Any]:
    status, tag = _call(sandbox, "POST", "/tags", {"name": name})
    assert status == 200
    return dict(tag)


def test_a_company_is_created_then_updated_by_its_company_id(sandbox: IntercomSandbox) -> None:
    # Given a company created with your company_id
    created = _company(sandbox, "acme", name="Acme", plan="Pro", size=12, custom_attributes={"tier": "gold"})
    # When the same company_id is posted again with other fields
    updated = _company(sandbox, "acme", website="https://acme.example", monthly_spend=99.9)
    # Then it is the same company, holding both, shaped as Intercom's company object
    assert updated["id"] == created["id"]
    assert list(sandbox.companies) == [created["id"]]
    assert (updated["name"], updated["size"], updated["website"]) == ("Acme", 12, "https://acme.example")
    assert updated["plan"]["name"] == "Pro"
    assert updated["monthly_spend"] == 99  # Intercom truncates a float
    assert updated["custom_attributes"] == {"tier": "gold"}
    assert [e.message for e in sandbox._schemas.company.iter_errors(updated)] == []


def test_a_company_is_found_by_its_company_id(sandbox: IntercomSandbox) -> None:
    # Given two companies
    acme = _company(sandbox, "acme")
    _company(sandbox, "globex")
    # When one is asked for by company_id, and one that does not exist
    status, found = _call(sandbox, "GET", "/companies?company_id=acme")
    missing = _call(sandbox, "GET", "/companies?company_id=initech")
    # Then the first is listed alone, the second is Intercom's documented 404
    assert (status, [c["id"] for c in found["data"]], found["total_count"]) == (200, [acme["id"]], 1)
    assert _error(missing) == (404, "company_not_found", "Company Not Found")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"company_id": "acme", "test": "invalid"}, 400, "bad_request", None),
        ({"company_id": "acme", "size": "many"}, 400, "parameter_invalid", "size"),
        ({"company_id": 7}, 400, "parameter_invalid", "company_id"),
        ({"company_id": "acme", "custom_attributes": {"tier": ["a"]}}, 400, "parameter_invalid", None),
        ({"name": "Acme"}, 400, "parameter_not_found", "company_id"),
        ({"company_id": "acme", "monthly_spend": 2**31}, 400, "parameter_invalid", "monthly_spend"),
    ],
)
def test_company_bodies_intercom_would_refuse_are_refused(
    sandbox: IntercomSandbox, body: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    # When a company body breaks Intercom's schema (or its documented rules)
    answer_status, answer = _call(sandbox, "POST", "/companies", body)
    # Then it is refused as Intercom refuses it, and no company exists
    assert (answer_status, answer["errors"][0]["code"]) == (status, code)
    if field is not None:
        assert answer["errors"][0]["field"].startswith(field)
    assert list(sandbox._schemas.error.iter_errors(answer)) == []
    assert sandbox.companies == {}


def test_an_unknown_field_is_refused_in_intercoms_words(sandbox: IntercomSandbox) -> None:
    # The spec's own example: {"test": "invalid"}
    assert _error(_call(sandbox, "POST", "/companies", {"test": "invalid"})) == (
        400,
        "bad_request",
        "bad 'test' parameter",
    )


def test_an_attached_company_is_listed_on_the_contact_once_however_often_attached(
    sandbox: IntercomSandbox,
) -> None:
    # Given a contact and a company
    contact_id, company = _contact(sandbox), _company(sandbox)
    # When the company is attached twice
    first = _call(sandbox, "POST", f"/contacts/{contact_id}/companies", {"id": company["id"]})
    again = _call(sandbox, "POST", f"/contacts/{contact_id}/companies", {"id": company["id"]})
    # Then both answer the company, counting one user
    assert first[0] == again[0] == 200
    assert again[1]["id"] == company["id"]
    assert again[1]["user_count"] == 1
    # And the contact lists it once, as Intercom's contact object does
    status, contact = _call(sandbox, "GET", f"/contacts/{contact_id}")
    assert status == 200
    assert contact["companies"] == {
        "type": "list",
        "data": [{"type": "company", "id": company["id"], "url": f"/companies/{company['id']}"}],
        "url": f"/contacts/{contact_id}/companies",
        "total_count": 1,
        "has_more": False,
    }
    assert [e.message for e in sandbox._schemas.contact.iter_errors(contact)] == []


@pytest.mark.parametrize(
    ("contact", "body", "expected"),
    [
        ("known", {"id": "no-such-company"}, (404, "company_not_found", "Company Not Found")),
        ("known", {}, (400, "parameter_not_found", "company not specified")),
        ("unknown", {"id": "company"}, (404, "not_found", "User Not Found")),
    ],
)
def test_attaching_answers_intercoms_documented_errors(
    sandbox: IntercomSandbox, contact: str, body: dict[str, Any], expected: tuple[int, str, str]
) -> None:
    # Given a contact (or an id no contact has) and a company
    contact_id = _contact(sandbox) if contact == "known" else "5ba682d23d7cf92bef87bfd4"
    company = _company(sandbox)
    body = {"id": company["id"]} if body.get("id") == "company" else body
    # When the attach names something missing
    answer = _call(sandbox, "POST", f"/contacts/{contact_id}/companies", body)
    # Then it is the error Intercom documents, and nothing is attached
    assert _error(answer) == expected
    assert sandbox.companies[company["id"]]["user_count"] == 0


def test_a_contact_holds_at_most_the_documented_number_of_companies(
    sandbox: IntercomSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a contact at the limit (2 here instead of Intercom's 1,000, to stay quick)
    monkeypatch.setattr(companies_tags, "MAX_COMPANIES_PER_CONTACT", 2)
    contact_id = _contact(sandbox)
    held = [_company(sandbox, f"c{n}")["id"] for n in range(2)]
    for company_id in held:
        assert _call(sandbox, "POST", f"/contacts/{contact_id}/companies", {"id": company_id})[0] == 200
    # When a third company is attached
    third = _company(sandbox, "c2")["id"]
    answer = _call(sandbox, "POST", f"/contacts/{contact_id}/companies", {"id": third})
    # Then Intercom's documented refusal comes back, and the contact keeps its two
    assert _error(answer) == (
        400,
        "contact_company_limit_exceeded",
        "Contact has reached the maximum of 2 company associations",
    )
    assert _call(sandbox, "GET", f"/contacts/{contact_id}")[1]["companies"]["total_count"] == 2
    # And attaching one it already holds is still fine
    assert _call(sandbox, "POST", f"/contacts/{contact_id}/companies", {"id": held[0]})[0] == 200


def test_a_tag_is_created_once_and_found_by_name_case_insensitively(sandbox: IntercomSandbox) -> None:
    # When a tag is posted, then the same name in other case
    created = _tag(sandbox, "VIP")
    found = _tag(sandbox, "vip")
    # Then there is one tag, keeping the first spelling, shaped as Intercom's tag
    assert found == created == {"type": "tag", "id": created["id"], "name": "VIP"}
    status, listed = _call(sandbox, "GET", "/tags")
    assert (status, listed) == (200, {"type": "list", "data": [created]})
    assert list(sandbox._schemas.tag.iter_errors(created)) == []


@pytest.mark.parametrize("body", [{"test": "invalid"}, {"name": 5}, {"name": "  "}])
def test_tag_bodies_intercom_would_refuse_are_refused(sandbox: IntercomSandbox, body: dict[str, Any]) -> None:
    assert _error(_call(sandbox, "POST", "/tags", body)) == (
        400,
        "parameter_invalid",
        "invalid tag parameters",
    )
    assert sandbox.tags == {}


def test_a_tag_applied_twice_is_listed_once_with_its_first_application(sandbox: IntercomSandbox) -> None:
    # Given a contact and a tag
    contact_id, tag = _contact(sandbox), _tag(sandbox, "VIP")
    # When the tag is applied twice (the second time by number, as the spec's example sends it)
    status, first = _call(sandbox, "POST", f"/contacts/{contact_id}/tags", {"id": tag["id"]})
    again_status, again = _call(sandbox, "POST", f"/contacts/{contact_id}/tags", {"id": int(tag["id"])})
    # Then both answer the applied tag, the same
    assert status == again_status == 200
    assert again == first
    assert (first["id"], first["name"], first["applied_by"]["type"]) == (tag["id"], "VIP", "admin")
    assert list(sandbox._schemas.tag.iter_errors(first)) == []
    # And the contact lists it once
    tags = _call(sandbox, "GET", f"/contacts/{contact_id}")[1]["tags"]
    assert tags["data"] == [{"type": "tag", "id": tag["id"], "url": f"/tags/{tag['id']}"}]
    assert tags["total_count"] == 1


@pytest.mark.parametrize(
    ("contact", "tag", "message"),
    [("known", "999999", "Resource Not Found"), ("unknown", "known", "User Not Found")],
)
def test_tagging_something_missing_is_intercoms_documented_404(
    sandbox: IntercomSandbox, contact: str, tag: str, message: str
) -> None:
    contact_id = _contact(sandbox) if contact == "known" else "5ba682d23d7cf92bef87bfd4"
    tag_id = _tag(sandbox, "VIP")["id"] if tag == "known" else tag
    assert _error(_call(sandbox, "POST", f"/contacts/{contact_id}/tags", {"id": tag_id})) == (
        404,
        "not_found",
        message,
    )


def test_a_contact_shows_its_first_ten_tags_and_says_there_are_more(sandbox: IntercomSandbox) -> None:
    # Given a contact with eleven tags
    contact_id = _contact(sandbox)
    tag_ids = [_tag(sandbox, f"tag {n}")["id"] for n in range(11)]
    for tag_id in tag_ids:
        assert _call(sandbox, "POST", f"/contacts/{contact_id}/tags", {"id": tag_id})[0] == 200
    # When the contact is read
    tags = _call(sandbox, "GET", f"/contacts/{contact_id}")[1]["tags"]
    # Then it shows the first ten, the total, and that there are more
    assert [t["id"] for t in tags["data"]] == tag_ids[:10]
    assert (tags["total_count"], tags["has_more"]) == (11, True)


def test_a_fault_targets_one_path_over_http(sandbox: IntercomSandbox) -> None:
    # Given two failures injected over HTTP for /tags only
    injected = http.request(
        "POST",
        sandbox.url + "/_sandbox/faults",
        body=json.dumps({"kind": "fail", "path": "/tags", "status": 503, "count": 2}),
    )
    assert injected.status == 200
    # When a contact and a company are created, then a tag asked for three times
    contact_id = _contact(sandbox)
    _company(sandbox)
    answers = [_call(sandbox, "POST", "/tags", {"name": "VIP"})[0] for _ in range(3)]
    # Then only the tag route met the failures
    assert answers == [503, 503, 200]
    assert sandbox.contacts[contact_id]["email"] == "a@example.com"


def test_a_fault_targets_a_contact_route_by_its_template(sandbox: IntercomSandbox) -> None:
    # Given a contact, a tag, and one failure for tagging any contact
    contact_id, tag = _contact(sandbox), _tag(sandbox, "VIP")
    sandbox.fail_next(1, 500, path="/contacts/{id}/tags")
    # When the contact is read, then tagged twice
    read = _call(sandbox, "GET", f"/contacts/{contact_id}")[0]
    tagged = [_call(sandbox, "POST", f"/contacts/{contact_id}/tags", {"id": tag["id"]})[0] for _ in range(2)]
    # Then the read went through, and only the first tagging failed
    assert (read, tagged) == (200, [500, 200])


def test_a_fault_without_a_path_still_meets_only_contact_routes(sandbox: IntercomSandbox) -> None:
    # Given one failure injected without a path
    sandbox.fail_next(1, 503)
    # When a tag is asked for, then a contact created
    tag_status = _call(sandbox, "POST", "/tags", {"name": "VIP"})[0]
    contact_status = _call(sandbox, "POST", "/contacts", {"role": "user", "email": "a@example.com"})[0]
    # Then the failure met the contact, as before paths could be targeted
    assert (tag_status, contact_status) == (200, 503)


def test_requests_are_counted_by_route(sandbox: IntercomSandbox) -> None:
    # Given two contacts tagged with one tag, looked up each time
    contact_ids = [_contact(sandbox, f"{n}@example.com") for n in range(2)]
    for contact_id in contact_ids:
        tag = _tag(sandbox, "VIP")
        _call(sandbox, "POST", f"/contacts/{contact_id}/tags", {"id": tag["id"]})
    # Then the counts say how many calls each route had, in Python and over HTTP
    counts = sandbox.route_counts()
    assert (counts["POST /contacts"], counts["POST /tags"], counts["POST /contacts/{id}/tags"]) == (2, 2, 2)
    listed = json.loads(http.request("GET", sandbox.url + "/_sandbox/requests").data)
    assert [r["route"] for r in listed][-2:] == ["POST /tags", "POST /contacts/{id}/tags"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/companies", {"company_id": "acme"}),
        ("POST", "/tags", {"name": "VIP"}),
        ("GET", "/tags", None),
    ],
)
def test_companies_and_tags_need_the_token_and_spend_the_rate_limit(
    sandbox: IntercomSandbox, method: str, path: str, body: Any
) -> None:
    # Without the token: 401
    assert _call(sandbox, method, path, body, headers={"Accept": "application/json"})[0] == 401
    # With it, in a window of one call: the first is answered with the window's headers, the next is a 429
    sandbox.set_rate_limit(1, window_seconds=3600)
    first = http.request(method, sandbox.url + path, body=json.dumps(body), headers=HEADERS)
    assert (first.status, first.headers["X-RateLimit-Remaining"]) == (200, "0")
    assert _error(_call(sandbox, method, path, body))[:2] == (429, "rate_limit_exceeded")
