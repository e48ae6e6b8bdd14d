"""POST /contacts end to end: the handler in-process, moto for secrets, the Intercom sandbox over HTTP."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from intercom_contacts import services
from intercom_contacts.observability import logger
from local.aws import LocalAws
from local.intercom_sandbox import IntercomSandbox, RecordedRequest
from tests.conftest import TOKEN, Configure, FakeLambdaContext
from tests.integration.conftest import LEAD, USER, CallApi


def _posts(sandbox: IntercomSandbox) -> list[object]:
    return sandbox.requests_to("POST", "/contacts")


def test_a_new_user_is_created_and_returned(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    # When a new user is posted
    answer = call_api({**USER, "custom_attributes": {"plan": "pro"}})
    # Then the caller gets 201 with the contact Intercom created
    assert answer.status == 201
    assert answer.headers["X-Contact-Outcome"] == "created"
    assert answer.body["id"] in sandbox.contacts
    for field in ("type", "role", "email", "name", "external_id", "created_at", "custom_attributes"):
        assert field in answer.body
    assert answer.body["custom_attributes"] == {"plan": "pro"}
    # And Intercom received exactly the request's fields with the pinned headers
    [request] = sandbox.requests_to("POST", "/contacts")
    assert request.json == {**USER, "custom_attributes": {"plan": "pro"}}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["intercom-version"] == "2.16"


def test_a_lead_is_created(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    answer = call_api({**LEAD, "role": "Lead"})
    assert (answer.status, answer.body["role"]) == (201, "lead")
    assert sandbox.requests_to("POST", "/contacts")[0].json == LEAD


def test_a_duplicate_user_returns_the_existing_contact_by_default(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given the user exists
    existing = sandbox.seed_contact(**USER)
    # When it is posted again
    answer = call_api(USER)
    # Then the caller gets 200 with the existing contact, and nothing new exists
    assert (answer.status, answer.headers["X-Contact-Outcome"], answer.body["id"]) == (
        200,
        "existing",
        existing["id"],
    )
    assert len(sandbox.contacts) == 1
    assert [r.status for r in sandbox.requests] == [409, 200]


def test_on_conflict_update_applies_the_request_to_the_existing_contact(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    existing = sandbox.seed_contact(**USER)
    answer = call_api({**USER, "name": "Jane Smith"}, query={"on_conflict": "update"})
    assert (answer.status, answer.headers["X-Contact-Outcome"]) == (200, "updated")
    assert answer.body["name"] == "Jane Smith"
    [put] = sandbox.requests_to("PUT", f"/contacts/{existing['id']}")
    assert put.json == {**USER, "name": "Jane Smith"}
    assert sandbox.contacts[existing["id"]]["name"] == "Jane Smith"


def test_on_conflict_fail_answers_409_with_the_existing_id(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    existing = sandbox.seed_contact(**USER)
    answer = call_api(USER, query={"on_conflict": "fail"})
    assert answer.status == 409
    assert answer.body["code"] == "CONTACT_EXISTS"
    assert answer.body["contact_id"] == existing["id"]
    assert answer.body["request_id"]
    assert len(sandbox.requests) == 1


def test_an_archived_duplicate_is_unarchived_and_returned(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    existing = sandbox.seed_contact(**USER)
    sandbox.archive(existing["id"])
    answer = call_api(USER)
    assert (answer.status, answer.body["id"]) == (200, existing["id"])
    assert len(sandbox.requests_to("POST", f"/contacts/{existing['id']}/unarchive")) == 1


def test_an_archived_duplicate_stays_archived_with_on_conflict_fail(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    existing = sandbox.seed_contact(**USER)
    sandbox.archive(existing["id"])
    answer = call_api(USER, query={"on_conflict": "fail"})
    assert answer.status == 409
    assert sandbox.requests_to("POST", f"/contacts/{existing['id']}/unarchive") == []


def test_invalid_fields_are_refused_before_intercom(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    answer = call_api({"role": "admin", "email": "not-an-email", "company": "x"})
    assert answer.status == 422
    assert answer.body["code"] == "VALIDATION_ERROR"
    assert {f["field"] for f in answer.body["fields"]} == {"role", "email", "company"}
    assert sandbox.requests == []


def test_a_missing_role_names_the_field(call_api: CallApi) -> None:
    answer = call_api({"email": "a@example.com"})
    assert answer.body["fields"] == [{"field": "role", "message": "is required"}]


def test_malformed_json_is_a_400(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    answer = call_api('{"role": "user",', raw=True)
    assert (answer.status, answer.body["code"]) == (400, "INVALID_JSON")
    assert sandbox.requests == []


@pytest.mark.parametrize("body", [[USER], "user", 7, None])
def test_a_body_that_is_not_an_object_is_a_422(call_api: CallApi, body: object) -> None:
    answer = call_api(body)
    assert (answer.status, answer.body["code"]) == (422, "VALIDATION_ERROR")


def test_a_body_over_256_kib_is_refused(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    answer = call_api({**USER, "name": "x" * (256 * 1024)})
    assert (answer.status, answer.body["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert sandbox.requests == []


def test_an_unknown_on_conflict_is_a_422(call_api: CallApi) -> None:
    answer = call_api(USER, query={"on_conflict": "merge"})
    assert answer.status == 422
    assert answer.body["fields"][0]["field"] == "on_conflict"


def test_fields_intercom_rejects_are_a_422_with_intercoms_code(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given Intercom refuses a field (an owner not in the workspace, say) the service cannot check
    refusal = {"type": "error.list", "request_id": "r-1", "errors": [{"code": "parameter_not_found"}]}
    sandbox.fail_next(1, 400, method="POST", body=json.dumps(refusal).encode())
    answer = call_api({**USER, "owner_id": "99"})
    # Then Intercom's 400 is passed on as a 422 with its code and request id, and not retried
    assert answer.status == 422
    assert answer.body["code"] == "INTERCOM_REJECTED"
    assert answer.body["intercom_code"] == "parameter_not_found"
    assert answer.body["request_id"]
    assert len(sandbox.requests) == 1


def test_a_rejected_token_is_read_again_once_then_a_502(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    # Given Intercom no longer accepts the stored token
    sandbox.rotate_token("tok_new")
    # When a contact is posted
    answer = call_api(USER)
    # Then the secret was re-read and tried once more, then the caller gets a 502 without the token
    assert (answer.status, answer.body["code"]) == (502, "INTERCOM_AUTH_FAILED")
    assert [r.status for r in sandbox.requests] == [401, 401]
    assert TOKEN not in json.dumps(answer.body)


def test_a_rotated_secret_is_picked_up_after_a_401(
    call_api: CallApi, sandbox: IntercomSandbox, service_env: LocalAws
) -> None:
    # Given a warm container holding the old token
    assert call_api(LEAD).status == 201
    # When the token is rotated in Intercom and in Secrets Manager
    sandbox.rotate_token("tok_rotated")
    service_env.client("secretsmanager").put_secret_value(
        SecretId=service_env.secret_id, SecretString=json.dumps({"token": "tok_rotated"})
    )
    # Then the next request succeeds after one 401
    assert call_api({**LEAD, "email": "second@example.com"}).status == 201
    assert [r.status for r in sandbox.requests] == [200, 401, 200]


def test_the_secret_is_read_once_for_many_requests(call_api: CallApi) -> None:
    # Given a count of real GetSecretValue calls
    reads = []
    services.secrets_provider().client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append(1)
    )
    # When ten contacts are created
    for n in range(10):
        assert call_api({**LEAD, "email": f"lead{n}@example.com"}).status == 201
    # Then the secret was read once
    assert len(reads) == 1


def test_an_unreadable_token_is_a_503(
    call_api: CallApi, configure: Configure, sandbox: IntercomSandbox
) -> None:
    configure(INTERCOM_TOKEN_SECRET_ID="arn:aws:secretsmanager:us-east-1:123456789012:secret:missing")
    answer = call_api(USER)
    assert (answer.status, answer.body["code"]) == (503, "TOKEN_UNAVAILABLE")
    assert sandbox.requests == []


def test_transient_5xx_are_retried(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    sandbox.fail_next(2, 503)
    answer = call_api(USER)
    assert answer.status == 201
    assert [r.status for r in sandbox.requests] == [503, 503, 200]


def test_five_attempts_then_a_502(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    sandbox.fail_next(10, 500)
    answer = call_api(USER)
    assert (answer.status, answer.body["code"]) == (502, "INTERCOM_UNAVAILABLE")
    assert len(sandbox.requests) == 5


def test_a_read_timeout_resends_a_user_and_intercoms_409_prevents_a_duplicate(
    call_api: CallApi, sandbox: IntercomSandbox, configure: Configure
) -> None:
    # Given Intercom answers the first request only after the read timeout
    configure(INTERCOM_READ_TIMEOUT="0.3")
    sandbox.delay_next(1, 0.6)
    # When a user is posted
    answer = call_api(USER)
    # Then the resend found the user the first request created: one contact, answered as existing
    assert answer.status in {200, 201}
    time.sleep(0.4)  # let the delayed first request finish in the sandbox
    assert len(sandbox.contacts) == 1
    assert answer.body["id"] in sandbox.contacts


def _creates(sandbox: IntercomSandbox) -> list[RecordedRequest]:
    return [request for request in sandbox.requests_to("POST", "/contacts") if request.path == "/contacts"]


def test_a_lead_whose_answer_was_lost_is_found_not_resent(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given the connection drops after Intercom created the lead
    sandbox.drop_next(1, mid_response=True)
    # When a lead is posted
    answer = call_api(LEAD)
    # Then it is not resent (Intercom does not deduplicate leads) but found among the new leads
    assert (answer.status, answer.headers["X-Contact-Outcome"]) == (201, "created")
    assert [answer.body["id"]] == list(sandbox.contacts)
    assert len(_creates(sandbox)) == 1
    assert sandbox.requests_to("POST", "/contacts/search")


def test_a_lost_lead_that_search_does_not_show_yet_is_unknown(
    call_api: CallApi, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given the answer to a lead is lost, and Intercom's search lags behind by a minute
    sandbox.set_search_lag(60)
    sandbox.drop_next(1, mid_response=True)
    lambda_context.remaining_millis = 4000
    # When the lead is posted
    answer = call_api(LEAD)
    # Then after looking for it while time allowed, the caller is told the outcome is unknown
    assert (answer.status, answer.body["code"]) == (502, "INTERCOM_OUTCOME_UNKNOWN")
    assert len(_creates(sandbox)) == 1
    assert len(sandbox.requests_to("POST", "/contacts/search")) >= 2


def test_a_dropped_connection_resends_a_user(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    sandbox.drop_next(1)
    answer = call_api(USER)
    assert answer.status in {200, 201}
    assert len(sandbox.contacts) == 1


def test_a_spent_rate_limit_waits_for_the_reset_instead_of_spending_a_request(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given a window of one call a second
    sandbox.set_rate_limit(1, window_seconds=1.0)
    # When three leads are posted one after another
    answers = [call_api({**LEAD, "email": f"l{n}@example.com"}) for n in range(3)]
    # Then all are created, and Intercom never had to answer 429
    assert [a.status for a in answers] == [201, 201, 201]
    assert 429 not in [r.status for r in sandbox.requests]


def test_a_rate_limit_longer_than_the_time_left_is_a_429_with_retry_after(
    call_api: CallApi, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given a window of one call per 30 s, already spent, and 3 s left in the invocation
    sandbox.set_rate_limit(1, window_seconds=30.0)
    assert call_api(LEAD).status == 201
    lambda_context.remaining_millis = 3000
    # When another contact is posted
    answer = call_api({**LEAD, "email": "other@example.com"})
    # Then the caller is told when to come back, and no request was spent on a certain 429
    assert (answer.status, answer.body["code"]) == (429, "INTERCOM_RATE_LIMITED")
    assert 0 < int(answer.headers["Retry-After"]) <= 30
    assert len(sandbox.requests) == 1


def test_an_idempotency_key_makes_a_repeat_return_the_first_result(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # When the same lead is posted twice with the same key
    first = call_api(LEAD, headers={"Idempotency-Key": "signup-42"})
    second = call_api(LEAD, headers={"Idempotency-Key": "signup-42"})
    # Then Intercom got one request and both callers got the same contact
    assert (first.status, second.status) == (201, 201)
    assert first.body == second.body
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(sandbox.requests_to("POST", "/contacts")) == 1


def test_an_idempotency_key_reused_for_another_body_is_a_422(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    call_api(LEAD, headers={"Idempotency-Key": "signup-43"})
    answer = call_api({**LEAD, "name": "Someone Else"}, headers={"Idempotency-Key": "signup-43"})
    assert (answer.status, answer.body["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert len(sandbox.requests_to("POST", "/contacts")) == 1


def test_an_invalid_idempotency_key_is_a_422(call_api: CallApi) -> None:
    answer = call_api(LEAD, headers={"Idempotency-Key": "has spaces"})
    assert answer.status == 422
    assert answer.body["code"] == "VALIDATION_ERROR"


def test_logs_never_hold_the_token_and_mask_personal_data(
    call_api: CallApi, sandbox: IntercomSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given every log line, formatted as Powertools writes it, and everything printed (metrics)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    # When a run has a success, a duplicate and a rejected token
    try:
        call_api(USER)
        call_api(USER)
        sandbox.rotate_token("tok_other")
        call_api(LEAD)
    finally:
        logger.removeHandler(handler)
    logged = lines.getvalue() + capsys.readouterr().out
    # Then the token appears nowhere, and neither do the email or name in clear
    assert logged
    assert TOKEN not in logged
    assert TOKEN[:12] not in logged
    assert USER["email"] not in logged
    assert USER["name"] not in logged
    assert "j***@example.com" in logged


def test_a_409_without_an_id_is_resolved_by_searching_for_the_user(
    call_api: CallApi, sandbox: IntercomSandbox
) -> None:
    # Given the user exists and Intercom's 409 does not say which contact it is
    existing = sandbox.seed_contact(**USER)
    conflict = {"type": "error.list", "errors": [{"code": "conflict", "message": "A contact already exists"}]}
    sandbox.fail_next(1, 409, method="POST", path_prefix="/contacts", body=json.dumps(conflict).encode())
    # When the user is posted
    answer = call_api(USER)
    # Then the service found it by search and returned it
    assert (answer.status, answer.body["id"]) == (200, existing["id"])
    assert len(sandbox.requests_to("POST", "/contacts/search")) == 1


def test_a_non_json_200_is_a_clear_502_and_unknown_for_a_lead(
    call_api: CallApi, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given Intercom answers 200 with a body that is not its JSON
    sandbox.fail_next(2, 200, method="POST", path_prefix="/contacts", body=b"<html>oops</html>")
    lambda_context.remaining_millis = 4000
    # Then a user gets a retryable bad-response error, and a lead is reported as unknown, never resent
    user, lead = call_api(USER), call_api(LEAD)
    assert (user.status, user.body["code"]) == (502, "INTERCOM_BAD_RESPONSE")
    assert (lead.status, lead.body["code"]) == (502, "INTERCOM_OUTCOME_UNKNOWN")
    assert len(_creates(sandbox)) == 2


def test_a_body_that_is_not_json_content_is_a_415(call_api: CallApi, sandbox: IntercomSandbox) -> None:
    answer = call_api(
        "role=user&email=a@example.com",
        raw=True,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (answer.status, answer.body["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert sandbox.requests == []


def test_retries_and_conflicts_are_counted_in_metrics(
    call_api: CallApi, sandbox: IntercomSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one 503 before a duplicate user
    sandbox.seed_contact(**USER)
    sandbox.fail_next(1, 503)
    # When the user is posted
    call_api(USER)
    # Then the EMF line counts one retry and one conflict
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    metrics = {name: value for blob in emf for name, value in blob.items() if not name.startswith("_")}
    assert metrics["IntercomRetries"] == [1.0]
    assert metrics["ContactConflicts"] == [1.0]
    assert metrics["ContactsExisting"] == [1.0]


def test_a_lead_with_a_lost_answer_is_not_resent_when_the_caller_retries_its_key(
    call_api: CallApi, sandbox: IntercomSandbox, lambda_context: FakeLambdaContext
) -> None:
    # Given the answer to a keyed lead is lost after Intercom created it, and search does not show it yet
    sandbox.set_search_lag(3)
    sandbox.drop_next(1, mid_response=True)
    lambda_context.remaining_millis = 2500
    first = call_api(LEAD, headers={"Idempotency-Key": "lead-77"})
    # When the caller retries with the same key once search has caught up
    time.sleep(3)
    again = call_api(LEAD, headers={"Idempotency-Key": "lead-77"})
    # Then the first was unknown, the retry finds the lead; Intercom was asked to create it once
    assert first.body["code"] == "INTERCOM_OUTCOME_UNKNOWN"
    assert (again.status, again.body["id"]) == (201, next(iter(sandbox.contacts)))
    assert len(_creates(sandbox)) == 1


@pytest.mark.parametrize(
    "wording",
    [
        "An Archived contact matching those details already exists with id={id}",
        "an ARCHIVED Contact matching those details already exists with id = {id}",
    ],
)
def test_an_archived_duplicate_is_recognised_however_intercom_words_it(
    call_api: CallApi, sandbox: IntercomSandbox, wording: str
) -> None:
    # Given an archived user, and Intercom wording its 409 in another case
    existing = sandbox.seed_contact(**USER)
    sandbox.archive(existing["id"])
    body = {
        "type": "error.list",
        "errors": [{"code": "conflict", "message": wording.format(id=existing["id"])}],
    }
    sandbox.fail_next(1, 409, method="POST", body=json.dumps(body).encode())
    # When the user is posted
    answer = call_api(USER)
    # Then it is unarchived and returned
    assert (answer.status, answer.body["id"]) == (200, existing["id"])
    assert sandbox.requests_to("POST", f"/contacts/{existing['id']}/unarchive")


def test_a_configuration_error_tells_the_caller_nothing_about_the_configuration(
    call_api: CallApi, configure: Configure
) -> None:
    # Given a function deployed with an invalid setting
    configure(INTERCOM_MAX_ATTEMPTS="9")
    # When it is called
    answer = call_api(USER)
    # Then the caller gets a generic message; the setting is named only in the logs
    assert (answer.status, answer.body["code"]) == (500, "CONFIGURATION_ERROR")
    assert "INTERCOM_MAX_ATTEMPTS" not in json.dumps(answer.body)
    assert answer.body["message"] == "The service is misconfigured; its operators have been told."


def test_a_function_without_its_event_bus_is_refused_before_intercom_is_called(
    call_api: CallApi, configure: Configure, sandbox: IntercomSandbox
) -> None:
    # Given a deployment whose event bus setting is missing
    configure(EVENT_BUS_NAME="")
    # When a lead is posted
    answer = call_api(LEAD)
    # Then nothing reaches Intercom: a caller's retry of this 500 cannot create a second lead
    assert (answer.status, answer.body["code"]) == (500, "CONFIGURATION_ERROR")
    assert sandbox.requests == []
