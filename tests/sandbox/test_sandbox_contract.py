"""The Intercom sandbox behaves as Intercom's contacts API does, checked over real HTTP.

The service's tests are only as good as this double, so its answers are validated against
Intercom's official schema (vendored in local/intercom_sandbox/schema/) too.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from local.intercom_sandbox import DEFAULT_CUSTOM_ATTRIBUTES, IntercomSandbox
from tests.conftest import TOKEN  # the `sandbox` fixture (tests/conftest.py) serves this token

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json", "Intercom-Version": "2.16"}
http = urllib3.PoolManager(retries=False, timeout=5)


def _call(
    sandbox: IntercomSandbox, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    response = http.request(
        method,
        sandbox.url + path,
        body=None if body is None else json.dumps(body),
        headers=HEADERS if headers is None else headers,
    )
    return response


def _body(response: Any) -> Any:
    return json.loads(response.data)


def test_a_created_contact_is_shaped_like_intercoms(sandbox: IntercomSandbox) -> None:
    # When a user is created with an avatar and custom attributes
    answer = _call(
        sandbox,
        "POST",
        "/contacts",
        {
            "role": "user",
            "email": "a@example.com",
            "avatar": "https://x.io/a.png",
            "custom_attributes": {"plan": "pro"},
        },
    )
    contact = _body(answer)
    # Then Intercom's 200 carries every property of the official contact schema, valid against it
    assert answer.status == 200
    errors = [e.message for e in sandbox._schemas.contact.iter_errors(contact)]
    assert errors == []
    # (merge_history only comes with include_merge_history=true)
    assert set(sandbox._schemas.contact.schema["properties"]) - {"merge_history"} <= set(contact)
    assert contact["avatar"] == {"type": "avatar", "image_url": "https://x.io/a.png"}
    assert len(contact["id"]) == 24


def test_every_error_is_an_intercom_error_list(sandbox: IntercomSandbox) -> None:
    answer = _call(
        sandbox,
        "POST",
        "/contacts",
        {"role": "user", "email": "a@example.com"},
        headers={"Accept": "application/json"},
    )
    assert answer.status == 401
    assert list(sandbox._schemas.error.iter_errors(_body(answer))) == []
    assert _body(answer)["errors"][0]["code"] == "unauthorized"


def test_a_duplicate_user_is_a_409_naming_the_existing_id_even_archived(sandbox: IntercomSandbox) -> None:
    existing = _body(
        _call(sandbox, "POST", "/contacts", {"role": "user", "email": "Dup@Example.com", "external_id": "x1"})
    )
    by_email = _call(sandbox, "POST", "/contacts", {"role": "user", "email": "dup@example.com"})
    by_external_id = _call(sandbox, "POST", "/contacts", {"role": "user", "external_id": "x1"})
    assert by_email.status == by_external_id.status == 409
    assert (
        _body(by_email)["errors"][0]["message"]
        == f"A contact matching those details already exists with id={existing['id']}"
    )
    sandbox.archive(existing["id"])
    archived = _body(_call(sandbox, "POST", "/contacts", {"role": "user", "email": "dup@example.com"}))
    assert archived["errors"][0]["message"].startswith("An archived contact matching those details")


def test_leads_never_conflict(sandbox: IntercomSandbox) -> None:
    for _ in range(2):
        assert _call(sandbox, "POST", "/contacts", {"role": "lead", "email": "l@example.com"}).status == 200
    assert len(sandbox.contacts) == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"role": "user", "email": "a@example.com", "company": "x"}, "parameter_not_found"),
        (
            {"role": "user", "email": "a@example.com", "custom_attributes": {"unknown": 1}},
            "parameter_invalid",
        ),
        ({"role": "user", "external_id": "e", "email_verified": True}, "parameter_invalid"),
        ({"role": "admin", "email": "a@example.com"}, "parameter_invalid"),
        ({"role": "user", "email": 7}, "parameter_invalid"),
        ({"role": "user", "email": "a@example.com", "signed_up_at": "yesterday"}, "parameter_invalid"),
    ],
)
def test_bodies_intercom_would_refuse_are_refused(
    sandbox: IntercomSandbox, body: dict[str, Any], code: str
) -> None:
    answer = _call(sandbox, "POST", "/contacts", body)
    assert (answer.status, _body(answer)["errors"][0]["code"]) == (400, code)
    assert sandbox.contacts == {}


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_non_standard_json_number_is_refused(sandbox: IntercomSandbox, number: float) -> None:
    # Given a body with NaN, Infinity or -Infinity: Python's json writes and reads them, JSON has no such number
    body = {"role": "user", "email": "n@example.com", "custom_attributes": {"monthly_spend": number}}
    # When it is sent as a new contact
    answer = _call(sandbox, "POST", "/contacts", body)
    # Then Intercom's parser refuses it, and nothing is created
    assert (answer.status, _body(answer)["errors"][0]["code"]) == (400, "parameter_invalid")
    assert sandbox.contacts == {}


def test_the_token_and_accept_and_version_headers_are_required(sandbox: IntercomSandbox) -> None:
    body = {"role": "lead", "email": "a@example.com"}
    assert _call(sandbox, "POST", "/contacts", body, headers={**HEADERS, "Accept": "text/html"}).status == 406
    assert (
        _call(sandbox, "POST", "/contacts", body, headers={**HEADERS, "Intercom-Version": "9.9"}).status
        == 400
    )
    sandbox.rotate_token("tok_new")
    assert _call(sandbox, "POST", "/contacts", body).status == 401


def test_rate_limit_headers_and_429_then_recovery(sandbox: IntercomSandbox) -> None:
    # Given a 2-call window of 3 s, entered at its start so three quick calls fall inside it
    sandbox.set_rate_limit(2, window_seconds=3.0)
    time.sleep(3 - time.time() % 3 + 0.05)
    answers = [_call(sandbox, "GET", "/contacts") for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert answers[2].headers["X-RateLimit-Limit"] == "2"
    assert int(answers[2].headers["X-RateLimit-Reset"]) >= int(time.time())
    assert _body(answers[2])["errors"][0]["message"] == "Exceeded rate limit of 2 in 10_seconds"
    # And once the advertised reset time has passed, calls go through again
    time.sleep(max(0.0, int(answers[2].headers["X-RateLimit-Reset"]) - time.time()) + 0.05)
    assert _call(sandbox, "GET", "/contacts").status == 200


def test_injected_faults(sandbox: IntercomSandbox) -> None:
    sandbox.fail_next(1, 502)
    assert _call(sandbox, "GET", "/contacts").status == 502
    sandbox.delay_next(1, 0.3)
    started = time.monotonic()
    assert _call(sandbox, "GET", "/contacts").status == 200
    assert time.monotonic() - started >= 0.3
    sandbox.drop_next(1)
    with pytest.raises(ProtocolError):
        http.request("GET", sandbox.url + "/contacts", headers=HEADERS, retries=False)
    assert [r.status for r in sandbox.requests] == [502, 200, 0]


def _create_giving_up_after(sandbox: IntercomSandbox, seconds: float) -> None:
    """POST a user with a read timeout of `seconds`, expecting to give up before the answer."""
    with pytest.raises(ReadTimeoutError):
        http.request(
            "POST",
            sandbox.url + "/contacts",
            body=json.dumps({"role": "user", "email": "late@example.com"}),
            headers=HEADERS,
            timeout=urllib3.Timeout(connect=1, read=seconds),
        )


def test_a_delay_after_handling_creates_the_contact_before_the_late_answer(sandbox: IntercomSandbox) -> None:
    # Given Intercom's next answer coming a second late, after the work is done
    sandbox.delay_next(1, 1.0, after_handling=True)
    # When a client gives up waiting for it after 0.3 s
    _create_giving_up_after(sandbox, 0.3)
    # Then the contact was created all the same, and its request recorded as answered
    assert [c["email"] for c in sandbox.contacts.values()] == ["late@example.com"]
    assert [r.status for r in sandbox.requests] == [200]


def test_a_delay_after_handling_is_injected_over_http(sandbox: IntercomSandbox) -> None:
    # Given the same late answer, injected through the control plane
    fault = {"kind": "delay", "seconds": 1, "after_handling": True, "count": 1}
    http.request("POST", sandbox.url + "/_sandbox/faults", body=json.dumps(fault))
    # When a client gives up waiting after 0.3 s
    _create_giving_up_after(sandbox, 0.3)
    # Then the contact exists
    assert [c["email"] for c in sandbox.contacts.values()] == ["late@example.com"]


def test_update_unarchive_and_search(sandbox: IntercomSandbox) -> None:
    contact = _body(
        _call(sandbox, "POST", "/contacts", {"role": "user", "email": "u@example.com", "external_id": "e9"})
    )
    path = f"/contacts/{contact['id']}"
    assert _body(_call(sandbox, "PUT", path, {"name": "New"}))["name"] == "New"
    sandbox.archive(contact["id"])
    assert _body(_call(sandbox, "POST", path + "/unarchive"))["archived"] is False
    found = _body(
        _call(
            sandbox,
            "POST",
            "/contacts/search",
            {"query": {"field": "email", "operator": "=", "value": "U@example.com"}},
        )
    )
    assert [c["id"] for c in found["data"]] == [contact["id"]]
    assert _call(sandbox, "GET", "/contacts/missing").status == 404


def _search(sandbox: IntercomSandbox, query: dict[str, Any]) -> Any:
    return _call(sandbox, "POST", "/contacts/search", {"query": query})


def _found_emails(answer: Any) -> list[str]:
    assert answer.status == 200, answer.data
    return sorted(contact["email"] for contact in _body(answer)["data"])


JAN_1_0900, JAN_2_0900, JAN_3_0900 = 1577869200, 1577955600, 1578042000  # 2020, UTC


@pytest.mark.parametrize("field", ["created_at", "updated_at", "signed_up_at"])
@pytest.mark.parametrize(
    ("operator", "value", "emails"),
    [
        (">", 1577865600, ["b@example.com", "c@example.com"]),  # Jan 1 08:00: from Jan 2 on
        ("<", 1578006000, ["a@example.com"]),  # Jan 2 23:00: before Jan 2
        ("=", "1577930400", ["b@example.com"]),  # Jan 2 02:00, as a string like Intercom's example
    ],
)
def test_search_matches_a_timestamp_by_its_calendar_day(
    sandbox: IntercomSandbox, field: str, operator: str, value: int | str, emails: list[str]
) -> None:
    # Given contacts stamped at 09:00 UTC on three consecutive days
    for email, stamp in zip(["a", "b", "c"], [JAN_1_0900, JAN_2_0900, JAN_3_0900], strict=True):
        sandbox.seed_contact(role="user", email=f"{email}@example.com", **{field: stamp})
    # When they are searched by a timestamp within a day
    answer = _search(sandbox, {"field": field, "operator": operator, "value": value})
    # Then Intercom's day truncation decides, not the instant
    assert _found_emails(answer) == emails


@pytest.mark.parametrize("operator", [">=", "<=", "!=", "IN"])
def test_search_refuses_operators_intercom_does_not_support_on_dates(
    sandbox: IntercomSandbox, operator: str
) -> None:
    # When a date is searched with an operator Intercom documents as an error there
    answer = _search(sandbox, {"field": "created_at", "operator": operator, "value": JAN_1_0900})
    # Then it is a 400
    assert (answer.status, _body(answer)["errors"][0]["code"]) == (400, "parameter_invalid")


def test_search_refuses_an_operator_outside_intercoms_schema(sandbox: IntercomSandbox) -> None:
    # Given a contact the filter would otherwise be about
    sandbox.seed_contact(role="user", email="a@example.com")
    # When it is searched with an operator the search schema does not list, inside a group
    answer = _search(
        sandbox, {"operator": "AND", "value": [{"field": "email", "operator": "LIKE", "value": "a"}]}
    )
    # Then it is a 400, not an empty result
    assert (answer.status, _body(answer)["errors"][0]["code"]) == (400, "parameter_invalid")


def test_search_says_so_when_the_sandbox_lacks_an_operator_intercom_has(sandbox: IntercomSandbox) -> None:
    # When a string field is searched with `contains`, valid at Intercom but not implemented here
    answer = _search(sandbox, {"field": "email", "operator": "~", "value": "example"})
    # Then the sandbox refuses it loudly instead of finding nothing
    assert answer.status == 400
    assert "sandbox" in _body(answer)["errors"][0]["message"]


def test_search_nests_and_or_over_role_email_and_external_id(sandbox: IntercomSandbox) -> None:
    # Given a user found by email, a user found by external_id, and a lead with that email
    sandbox.seed_contact(role="user", email="a@example.com")
    sandbox.seed_contact(role="user", email="b@example.com", external_id="x-2")
    sandbox.seed_contact(role="lead", email="a@example.com")
    sandbox.seed_contact(role="user", email="c@example.com")
    # When users are searched by email (in another case) or external_id, a group beside a filter
    query = {
        "operator": "AND",
        "value": [
            {"field": "role", "operator": "=", "value": "user"},
            {
                "operator": "OR",
                "value": [
                    {"field": "email", "operator": "=", "value": "A@Example.com"},
                    {"field": "external_id", "operator": "=", "value": "x-2"},
                ],
            },
        ],
    }
    # Then exactly the two users match
    assert _found_emails(_search(sandbox, query)) == ["a@example.com", "b@example.com"]


BY_EMAIL = {"field": "email", "operator": "=", "value": "lag@example.com"}


def test_a_new_contact_shows_in_search_only_once_the_lag_has_passed(sandbox: IntercomSandbox) -> None:
    # Given search lagging half a second behind, as Intercom's eventually consistent search does
    sandbox.set_search_lag(0.5)
    # When a contact is created
    created = _body(_call(sandbox, "POST", "/contacts", {"role": "user", "email": "lag@example.com"}))
    # Then search misses it at first, though the contact itself is there
    assert _found_emails(_search(sandbox, BY_EMAIL)) == []
    assert _call(sandbox, "GET", f"/contacts/{created['id']}").status == 200
    # And finds it once the lag has passed
    time.sleep(0.6)
    assert _found_emails(_search(sandbox, BY_EMAIL)) == ["lag@example.com"]


def test_the_search_lag_is_set_over_http(sandbox: IntercomSandbox) -> None:
    # When a person sets a minute's lag through the control plane
    http.request("POST", sandbox.url + "/_sandbox/search-lag", body=json.dumps({"seconds": 60}))
    _call(sandbox, "POST", "/contacts", {"role": "user", "email": "lag@example.com"})
    # Then a contact created after it is not found
    assert _found_emails(_search(sandbox, BY_EMAIL)) == []


def test_reset_sets_the_search_lag_back_to_zero(sandbox: IntercomSandbox) -> None:
    # Given a minute's lag, then a reset
    sandbox.set_search_lag(60)
    sandbox.reset()
    # When a contact is created
    _call(sandbox, "POST", "/contacts", {"role": "user", "email": "lag@example.com"})
    # Then search finds it at once
    assert _found_emails(_search(sandbox, BY_EMAIL)) == ["lag@example.com"]


def test_a_seeded_contact_is_old_enough_to_be_found_despite_the_lag() -> None:
    # Given a sandbox started with a minute's lag, one contact seeded and one created through the API
    with IntercomSandbox(token=TOKEN, search_lag_seconds=60) as lagging:
        lagging.seed_contact(role="user", email="old@example.com")
        _call(lagging, "POST", "/contacts", {"role": "user", "email": "new@example.com"})
        # When every user is searched
        answer = _search(lagging, {"field": "role", "operator": "=", "value": "user"})
    # Then only the seeded one shows
    assert _found_emails(answer) == ["old@example.com"]


def test_the_control_plane_breaks_and_mends_it_over_http(sandbox: IntercomSandbox) -> None:
    http.request(
        "POST", sandbox.url + "/_sandbox/faults", body=json.dumps({"kind": "fail", "status": 503, "count": 5})
    )
    assert _call(sandbox, "GET", "/contacts").status == 503
    http.request("DELETE", sandbox.url + "/_sandbox/faults")
    assert _call(sandbox, "GET", "/contacts").status == 200
    listed = json.loads(http.request("GET", sandbox.url + "/_sandbox/requests").data)
    assert [r["status"] for r in listed] == [503, 200]


def test_requests_are_recorded_with_headers_and_json(sandbox: IntercomSandbox) -> None:
    _call(sandbox, "POST", "/contacts", {"role": "lead", "email": "r@example.com"})
    [request] = sandbox.requests
    assert (request.method, request.path, request.json, request.status) == (
        "POST",
        "/contacts",
        {"role": "lead", "email": "r@example.com"},
        200,
    )
    assert request.headers["intercom-version"] == "2.16"


def test_a_custom_attribute_defined_over_http_is_accepted_until_reset(sandbox: IntercomSandbox) -> None:
    body = {"role": "lead", "email": "tier@example.com", "custom_attributes": {"tier": "gold"}}
    # Given a workspace without the attribute, which refuses it
    assert _call(sandbox, "POST", "/contacts", body).status == 400
    # When it is defined through the control plane (as Intercom's data attributes API would)
    http.request("POST", sandbox.url + "/_sandbox/attributes", body=json.dumps({"name": "tier"}))
    # Then contacts may carry it, until the sandbox is reset
    assert _call(sandbox, "POST", "/contacts", body).status == 200
    sandbox.reset()
    assert _call(sandbox, "POST", "/contacts", {**body, "email": "t2@example.com"}).status == 400


def test_the_workspaces_attributes_are_listed_typed_as_intercoms_schema_says(
    sandbox: IntercomSandbox,
) -> None:
    # When the contact attributes are listed
    answer = _call(sandbox, "GET", "/data_attributes?model=contact")
    listed = _body(answer)
    # Then the list is valid against Intercom's schema, standard ones marked custom false
    assert answer.status == 200
    assert [e.message for e in sandbox._schemas.attribute_list.iter_errors(listed)] == []
    custom = {a["name"]: a["data_type"] for a in listed["data"] if a["custom"]}
    assert custom == dict(DEFAULT_CUSTOM_ATTRIBUTES)
    assert {"name": "email", "custom": False} in [
        {k: a[k] for k in ("name", "custom")} for a in listed["data"]
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("seats", "3"),
        ("seats", 2.5),
        ("seats", True),
        ("monthly_spend", "12.5"),
        ("paid_subscriber", "true"),
        ("plan", 3),
        ("contract_signed_at", "2025-01-31"),
        ("contract_signed_at", -1),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_attribute(
    sandbox: IntercomSandbox, name: str, value: Any
) -> None:
    # When a contact carries a value its attribute's type does not take
    body = {"role": "lead", "email": "t@example.com", "custom_attributes": {name: value}}
    answer = _call(sandbox, "POST", "/contacts", body)
    # Then Intercom refuses it, naming the attribute, and stores nothing
    [error] = _body(answer)["errors"]
    assert (answer.status, error["code"], error["field"]) == (
        400,
        "parameter_invalid",
        f"custom_attributes.{name}",
    )
    assert sandbox.contacts == {}


def test_a_contacts_values_are_stored_typed(sandbox: IntercomSandbox) -> None:
    values = {"seats": 3, "monthly_spend": 12, "paid_subscriber": False, "contract_signed_at": 1738281600}
    body = {"role": "lead", "email": "t@example.com", "custom_attributes": {**values, "plan": None}}
    answer = _call(sandbox, "POST", "/contacts", body)
    assert answer.status == 200
    assert _body(answer)["custom_attributes"] == {**values, "plan": None}


def test_an_update_is_checked_like_a_creation(sandbox: IntercomSandbox) -> None:
    contact = sandbox.seed_contact(role="user", email="u@example.com")
    answer = _call(sandbox, "PUT", f"/contacts/{contact['id']}", {"custom_attributes": {"seats": "many"}})
    assert (answer.status, _body(answer)["errors"][0]["field"]) == (400, "custom_attributes.seats")


def test_an_attribute_the_api_may_not_write_is_refused(sandbox: IntercomSandbox) -> None:
    # Given an attribute only Intercom's UI may write
    sandbox.define_custom_attribute("score", "integer", api_writable=False)
    body = {"role": "lead", "email": "t@example.com", "custom_attributes": {"score": 1}}
    answer = _call(sandbox, "POST", "/contacts", body)
    assert (answer.status, _body(answer)["errors"][0]["code"]) == (400, "parameter_invalid")


def test_a_created_attribute_is_listed_and_then_writable(sandbox: IntercomSandbox) -> None:
    # When an attribute is created through the data attributes API (datetime is stored as date)
    answer = _call(
        sandbox, "POST", "/data_attributes", {"name": "renewal", "model": "contact", "data_type": "datetime"}
    )
    created = _body(answer)
    # Then it is a custom, API-writable date attribute, shaped as Intercom's schema says
    assert answer.status == 200
    assert [
        e.message for e in sandbox._schemas.attribute_list.iter_errors({"type": "list", "data": [created]})
    ] == []
    assert (created["data_type"], created["custom"], created["api_writable"]) == ("date", True, True)
    listed = _body(_call(sandbox, "GET", "/data_attributes?model=contact"))["data"]
    assert created in listed
    body = {"role": "lead", "email": "r@example.com", "custom_attributes": {"renewal": 1738281600}}
    assert _call(sandbox, "POST", "/contacts", body).status == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "plan", "model": "contact", "data_type": "string"},
            "You already have 'plan' in your people data. To save this as new people data, use a different name.",
        ),
        (
            {"name": "a.b", "model": "contact", "data_type": "string"},
            "Your name for this attribute must only contain alphanumeric characters, currency symbols, and hyphens",
        ),
        (
            {"name": "name", "model": "contact", "data_type": "string"},
            "'Name' is one of our standard attributes",
        ),
        ({"name": "x", "model": "contact", "data_type": "text"}, "Data Type isn't an option"),
        (
            {"name": "size", "model": "contact", "data_type": "options", "options": [{"value": "S"}]},
            "You must have at least two options on a list type data attribute",
        ),
    ],
)
def test_attribute_creations_intercom_refuses_answer_its_documented_400(
    sandbox: IntercomSandbox, body: dict[str, Any], message: str
) -> None:
    answer = _call(sandbox, "POST", "/data_attributes", body)
    assert (answer.status, _body(answer)["errors"][0]["code"], _body(answer)["errors"][0]["message"]) == (
        400,
        "parameter_invalid",
        message,
    )


def test_a_workspace_holds_at_most_250_custom_attributes(sandbox: IntercomSandbox) -> None:
    # Given a workspace one short of the limit
    for number in range(250 - len(DEFAULT_CUSTOM_ATTRIBUTES) - 1):
        sandbox.define_custom_attribute(f"a{number}")
    create = {"model": "contact", "data_type": "string"}
    # Then the 250th is created and the 251st refused
    assert _call(sandbox, "POST", "/data_attributes", {**create, "name": "last"}).status == 200
    answer = _call(sandbox, "POST", "/data_attributes", {**create, "name": "one_more"})
    assert (answer.status, "250" in _body(answer)["errors"][0]["message"]) == (400, True)


def test_a_list_attribute_takes_only_its_options(sandbox: IntercomSandbox) -> None:
    options = {
        "name": "size",
        "model": "contact",
        "data_type": "options",
        "options": [{"value": "S"}, {"value": "M"}],
    }
    assert _call(sandbox, "POST", "/data_attributes", options).status == 200
    lead = {"role": "lead", "email": "s@example.com"}
    assert _call(sandbox, "POST", "/contacts", {**lead, "custom_attributes": {"size": "M"}}).status == 200
    assert _call(sandbox, "POST", "/contacts", {**lead, "custom_attributes": {"size": "XL"}}).status == 400


def test_an_attribute_defined_over_the_control_plane_carries_its_type(sandbox: IntercomSandbox) -> None:
    http.request(
        "POST", sandbox.url + "/_sandbox/attributes", body=json.dumps({"name": "age", "data_type": "integer"})
    )
    lead = {"role": "lead", "email": "s@example.com"}
    assert _call(sandbox, "POST", "/contacts", {**lead, "custom_attributes": {"age": "7"}}).status == 400
    assert _call(sandbox, "POST", "/contacts", {**lead, "custom_attributes": {"age": 7}}).status == 200
