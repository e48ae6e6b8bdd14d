"""Hostile and odd input: always a clear 4xx or a DLQ reason, never a crash or a 5xx."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intercom_contacts.models.messages import InvalidMessage, parse_record
from local.events import sqs_event
from tests.integration.conftest import LEAD, CallApi

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)
FIELDS = st.sampled_from(
    [
        "role",
        "email",
        "external_id",
        "phone",
        "name",
        "avatar",
        "signed_up_at",
        "owner_id",
        "custom_attributes",
        "x",
    ]
)
CONTACTISH = st.dictionaries(FIELDS, JSON, max_size=8) | st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "lead", "User", "LEAD", ""]), "email": st.text(max_size=40)},
    optional={"custom_attributes": JSON},
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _record(body: str, attributes: dict[str, str] | None = None) -> Any:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": {
            k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()
        },
    }
    return SQSRecord(sqs_event([message], queue_arn="arn:aws:sqs:us-east-1:123456789012:q")["Records"][0])


@FUZZ
@given(body=CONTACTISH | JSON)
def test_any_json_body_gets_a_clear_answer(call_api: CallApi, body: Any) -> None:
    answer = call_api(body)
    assert answer.status < 500 or answer.body["code"].startswith("INTERCOM_"), answer
    if answer.status >= 400:
        assert answer.body["code"]
        assert answer.body["message"]


@FUZZ
@given(text=st.text(max_size=200))
def test_any_text_body_gets_a_clear_4xx_or_a_contact(call_api: CallApi, text: str) -> None:
    answer = call_api(text, raw=True)
    assert answer.status in {201, 200, 400, 413, 415, 422}, answer
    if answer.status >= 400:
        assert answer.body["code"] in {
            "INVALID_JSON",
            "VALIDATION_ERROR",
            "PAYLOAD_TOO_LARGE",
            "UNSUPPORTED_MEDIA_TYPE",
        }


@pytest.mark.parametrize("depth", [100, 5000, 100_000])
def test_deep_nesting_is_refused_not_a_crash(call_api: CallApi, depth: int) -> None:
    body = (
        '{"role": "lead", "email": "a@example.com", "custom_attributes": '
        + '{"a":' * depth
        + "1"
        + "}" * depth
        + "}"
    )
    answer = call_api(body, raw=True)
    assert answer.status in {400, 413, 422}
    assert answer.body["code"] in {"INVALID_JSON", "VALIDATION_ERROR", "PAYLOAD_TOO_LARGE"}


def test_a_body_that_is_not_utf8_is_a_400(service_env: Any, lambda_context: Any, sandbox: Any) -> None:
    from intercom_contacts.handlers import api
    from local.events import api_gateway_event

    event = api_gateway_event(
        "POST", "/contacts", body=b"M\xff\xfe", headers={"Content-Type": "application/json"}
    )
    answer = api.lambda_handler(event, lambda_context)
    assert (answer["statusCode"], json.loads(answer["body"])["code"]) == (400, "INVALID_JSON")
    assert sandbox.requests == []


def test_duplicate_keys_take_the_last_like_any_json_parser(call_api: CallApi, sandbox: Any) -> None:
    answer = call_api('{"role": "admin", "role": "lead", "email": "dup@example.com"}', raw=True)
    assert answer.status == 201
    assert sandbox.requests[0].json == {"role": "lead", "email": "dup@example.com"}


@pytest.mark.parametrize(
    "attributes",
    [
        {"a\nb": 1},
        {"<script>": "x"},
        {"ключ": "значение"},
        {"x" * 191: 1},
        {"$where": 1},
        {"a.b": 1},
        {"emoji 🎉": "\u0000"},
    ],
)
def test_odd_custom_attribute_keys_get_a_clear_answer(call_api: CallApi, attributes: dict[str, Any]) -> None:
    answer = call_api({**LEAD, "custom_attributes": attributes})
    assert answer.status in {201, 422}
    if answer.status == 422:
        assert answer.body["code"] in {"VALIDATION_ERROR", "INTERCOM_REJECTED"}


@pytest.mark.parametrize("key", ["a\r\nX-Injected: 1", "", " ", "x" * 201, "ü", "a b"])
def test_odd_idempotency_keys_are_refused(call_api: CallApi, key: str) -> None:
    answer = call_api(LEAD, headers={"Idempotency-Key": key})
    assert (answer.status, answer.body["code"]) == (422, "VALIDATION_ERROR")


@pytest.mark.parametrize("value", ["RETURN", "", "return;drop", "update\n", "1"])
def test_odd_on_conflict_values_are_refused(call_api: CallApi, value: str) -> None:
    answer = call_api(LEAD, query={"on_conflict": value})
    assert (answer.status, answer.body["code"]) == (422, "VALIDATION_ERROR")


@settings(max_examples=200, deadline=None)
@given(
    body=st.text(max_size=300) | JSON.map(json.dumps) | CONTACTISH.map(json.dumps),
    on_conflict=st.none() | st.text(max_size=10) | st.sampled_from(["return", "update", "fail"]),
    key=st.none() | st.text(max_size=300),
)
def test_any_sqs_message_is_a_contact_to_create_or_a_dlq_reason(
    body: str, on_conflict: str | None, key: str | None
) -> None:
    attributes = {
        name: value for name, value in (("OnConflict", on_conflict), ("IdempotencyKey", key)) if value
    }
    outcome: Any
    try:
        outcome = parse_record(_record(body, attributes))
    except InvalidMessage as invalid:
        outcome = invalid
    if isinstance(outcome, InvalidMessage):
        assert outcome.code in {"INVALID_JSON", "VALIDATION_ERROR", "INVALID_ATTRIBUTE"}
        assert outcome.message
    else:
        assert outcome.request.role in {"user", "lead"}
        assert outcome.idempotency_key


def test_a_deeply_nested_sqs_body_is_invalid_json() -> None:
    with pytest.raises(InvalidMessage) as raised:
        parse_record(_record("[" * 100_000 + "]" * 100_000))
    assert raised.value.code in {"INVALID_JSON", "VALIDATION_ERROR"}


def test_validation_messages_never_echo_the_values() -> None:
    with pytest.raises(InvalidMessage) as raised:
        parse_record(_record(json.dumps({"role": "lead", "email": "secret-person@example", "phone": 5})))
    assert "secret-person" not in raised.value.message
    assert set(raised.value.message) <= set(string.printable)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            '{"role": "lead", "email": "n@example.com", "custom_attributes": {"seats": NaN}}',
            "custom_attributes",
        ),
        (
            '{"role": "lead", "email": "n@example.com", "custom_attributes": {"seats": Infinity}}',
            "custom_attributes",
        ),
        ('{"role": "lead", "email": "n@example.com", "signed_up_at": -Infinity}', "signed_up_at"),
        (
            '{"role": "lead", "email": "n@example.com", "custom_attributes": {"seats": 1e400}}',
            "custom_attributes",
        ),
        ('{"role": "lead", "email": "n@example.com", "signed_up_at": ' + "9" * 5000 + "}", "signed_up_at"),
        ('{"role": "lead", "email": "n@example.com", "signed_up_at": ' + str(10**30) + "}", "signed_up_at"),
        ('{"role": "lead", "email": "n@example.com", "last_seen_at": 253402300800}', "last_seen_at"),
        (
            '{"role": "lead", "email": "n@example.com", "custom_attributes": {"seats": 9223372036854775808}}',
            "custom_attributes",
        ),
        ('{"role": "lead", "email": "n@example.com", "x": ' + "1" * 4400 + "}", "x"),
    ],
    ids=[
        "nan",
        "infinity",
        "minus-infinity",
        "1e400",
        "5000-digits",
        "10e30",
        "after-9999",
        "int64+1",
        "unknown",
    ],
)
def test_numbers_intercom_cannot_store_are_refused_naming_the_field(
    call_api: CallApi, sandbox: Any, body: str, field: str
) -> None:
    # When a body holds a number Intercom cannot store
    answer = call_api(body, raw=True)
    # Then the caller is told which field, and Intercom is not called
    assert (answer.status, answer.body["code"]) == (422, "VALIDATION_ERROR")
    assert [problem["field"] for problem in answer.body["fields"]] == [field]
    assert sandbox.requests == []
    # And a queued message with the same body is dead-lettered with the same reason
    with pytest.raises(InvalidMessage) as raised:
        parse_record(_record(body))
    assert (raised.value.code, raised.value.message.split(":")[0]) == ("VALIDATION_ERROR", field)


def test_the_largest_numbers_intercom_stores_are_accepted(call_api: CallApi, sandbox: Any) -> None:
    body = {
        **LEAD,
        "signed_up_at": 253402300799,
        "custom_attributes": {"seats": 9223372036854775807, "monthly_spend": -1.5e308},
    }
    assert call_api(body).status == 201
    assert sandbox.requests_to("POST", "/contacts")[0].json == body
