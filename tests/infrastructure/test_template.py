"""template.yaml: what a deployer and a security reviewer rely on, checked from the template itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from local.template import TEMPLATE, load_template

T = load_template()
RESOURCES: dict[str, Any] = T["Resources"]
FUNCTIONS = ("CreateContactFunction", "ContactWorkerFunction")


def _props(logical_id: str) -> dict[str, Any]:
    return dict(RESOURCES[logical_id]["Properties"])


def _statements(function: str) -> list[dict[str, Any]]:
    return [
        s for policy in _props(function)["Policies"] if "Statement" in policy for s in policy["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _env(function: str) -> dict[str, Any]:
    return {
        **T["Globals"]["Function"]["Environment"]["Variables"],
        **_props(function).get("Environment", {}).get("Variables", {}),
    }


def test_functions_run_python_3_13_on_arm64() -> None:
    assert T["Globals"]["Function"]["Runtime"] == "python3.13"
    assert T["Globals"]["Function"]["Architectures"] == ["arm64"]


def test_handlers_are_the_packages_entry_points() -> None:
    assert _props("CreateContactFunction")["Handler"] == "intercom_contacts.handlers.api.lambda_handler"
    assert _props("ContactWorkerFunction")["Handler"] == "intercom_contacts.handlers.worker.lambda_handler"


def test_every_function_gets_the_configuration_it_reads() -> None:
    for function in FUNCTIONS:
        env = _env(function)
        assert env["INTERCOM_TOKEN_SECRET_ID"] == {"Ref": "IntercomTokenSecretArn"}
        assert env["IDEMPOTENCY_TABLE_NAME"] == {"Ref": "IdempotencyTable"}
        assert env["POWERTOOLS_METRICS_NAMESPACE"]
        assert env["POWERTOOLS_SERVICE_NAME"]
    assert _env("ContactWorkerFunction")["CONTACTS_DLQ_URL"] == {"Ref": "ContactsDeadLetterQueue"}
    assert _env("CreateContactFunction")["CONTACTS_QUEUE_URL"] == {"Ref": "ContactsQueue"}


def test_a_message_goes_to_the_dlq_after_five_receives() -> None:
    redrive = _props("ContactsQueue")["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["ContactsDeadLetterQueue", "Arn"]}
    # And the worker knows the same number, to dead-letter the last attempt with its reason
    assert _env("ContactWorkerFunction")["MAX_RECEIVE_COUNT"] == str(redrive["maxReceiveCount"])


def test_visibility_timeout_is_at_least_six_times_the_workers_timeout() -> None:
    assert _props("ContactsQueue")["VisibilityTimeout"] >= 6 * _props("ContactWorkerFunction")["Timeout"]


def test_the_dlq_keeps_messages_longer_than_the_source() -> None:
    assert _props("ContactsDeadLetterQueue")["MessageRetentionPeriod"] == 14 * 86400
    assert _props("ContactsQueue")["MessageRetentionPeriod"] == 4 * 86400


def test_the_dlq_accepts_redrive_only_from_its_source_queue() -> None:
    policy = _props("ContactsDeadLetterQueue")["RedriveAllowPolicy"]
    assert policy["redrivePermission"] == "byQueue"
    [source] = policy["sourceQueueArns"]
    assert source["Fn::Sub"].endswith(":${AWS::StackName}-contacts")
    assert _props("ContactsQueue")["QueueName"] == {"Fn::Sub": "${AWS::StackName}-contacts"}


def test_queues_and_table_are_encrypted() -> None:
    assert _props("ContactsQueue")["SqsManagedSseEnabled"] is True
    assert _props("ContactsDeadLetterQueue")["SqsManagedSseEnabled"] is True
    assert _props("IdempotencyTable")["SSESpecification"]["SSEEnabled"] is True


def test_the_worker_reports_partial_batch_failures_with_parameters_for_batching_and_concurrency() -> None:
    event = _props("ContactWorkerFunction")["Events"]["ContactsQueueEvent"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BatchSize"] == {"Ref": "WorkerBatchSize"}
    assert event["MaximumBatchingWindowInSeconds"] == {"Ref": "WorkerBatchingWindowSeconds"}
    assert event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "WorkerMaximumConcurrency"}


def test_only_the_worker_paces_itself_and_it_leaves_the_api_its_share() -> None:
    # The API function spends what its callers need; the worker leaves it ApiRateLimitShare percent
    assert _env("ContactWorkerFunction")["API_RATE_LIMIT_SHARE"] == {"Ref": "ApiRateLimitShare"}
    assert "API_RATE_LIMIT_SHARE" not in _env("CreateContactFunction")
    share = T["Parameters"]["ApiRateLimitShare"]
    assert share["MinValue"] <= share["Default"] <= share["MaxValue"] <= 50


def test_the_api_requires_a_key_with_a_throttled_usage_plan() -> None:
    auth = _props("ContactsApi")["Auth"]
    assert auth["ApiKeyRequired"] is True
    assert auth["UsagePlan"]["Throttle"] == {
        "RateLimit": {"Ref": "ThrottleRateLimit"},
        "BurstLimit": {"Ref": "ThrottleBurstLimit"},
    }
    assert auth["DefaultAuthorizer"] == {"Ref": "ApiAuthorizer"}
    assert T["Parameters"]["ApiAuthorizer"]["AllowedValues"] == ["NONE", "AWS_IAM"]


def test_the_dlq_alarm_fires_on_any_message() -> None:
    alarm = _props("DeadLetterAlarm")
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["ContactsDeadLetterQueue", "QueueName"]}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_the_idempotency_table_has_powertools_schema_and_ttl() -> None:
    table = _props("IdempotencyTable")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


TABLE_ACTIONS = {
    ("CreateContactFunction", "IdempotencyTable"): {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
    ("CreateContactFunction", "RunLogTable"): {"GetItem", "PutItem", "UpdateItem", "BatchWriteItem", "Query"},
    ("ContactWorkerFunction", "IdempotencyTable"): {"GetItem", "PutItem", "UpdateItem", "DeleteItem"},
    ("ContactWorkerFunction", "RunLogTable"): {"GetItem", "UpdateItem", "Query"},
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_reads_only_its_secret_and_uses_only_its_tables(function: str) -> None:
    statements = _statements(function)
    secret = [s for s in statements if "secretsmanager:GetSecretValue" in _actions(s)]
    assert [s["Resource"] for s in secret] == [{"Ref": "IntercomTokenSecretArn"}]
    dynamo = {
        s["Resource"]["Fn::GetAtt"][0]: {a.removeprefix("dynamodb:") for a in _actions(s)}
        for s in statements
        if any(a.startswith("dynamodb:") for a in _actions(s))
    }
    assert dynamo == {
        table: actions for (owner, table), actions in TABLE_ACTIONS.items() if owner == function
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_publishes_only_to_the_stacks_bus(function: str) -> None:
    events = [s for s in _statements(function) if any(a.startswith("events:") for a in _actions(s))]
    assert [(s["Action"], s["Resource"]) for s in events] == [
        ("events:PutEvents", {"Fn::GetAtt": ["ContactEventBus", "Arn"]})
    ]


def test_the_run_log_table_expires_its_records_like_the_idempotency_table() -> None:
    table = _props("RunLogTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert [key["AttributeName"] for key in table["KeySchema"]] == ["pk", "sk"]
    assert table["TimeToLiveSpecification"] == _props("IdempotencyTable")["TimeToLiveSpecification"]


def test_the_api_sends_only_to_the_source_queue() -> None:
    sqs = [s for s in _statements("CreateContactFunction") if any(a.startswith("sqs:") for a in _actions(s))]
    assert [(s["Action"], s["Resource"]) for s in sqs] == [
        ("sqs:SendMessage", {"Fn::GetAtt": ["ContactsQueue", "Arn"]})
    ]


def test_the_worker_sends_only_to_the_dlq_and_delays_only_source_messages() -> None:
    sqs = {
        s["Action"]: s["Resource"]
        for s in _statements("ContactWorkerFunction")
        if str(s["Action"]).startswith("sqs:")
    }
    assert sqs == {
        "sqs:SendMessage": {"Fn::GetAtt": ["ContactsDeadLetterQueue", "Arn"]},
        "sqs:ChangeMessageVisibility": {"Fn::GetAtt": ["ContactsQueue", "Arn"]},
    }
    pollers = [
        p["SQSPollerPolicy"] for p in _props("ContactWorkerFunction")["Policies"] if "SQSPollerPolicy" in p
    ]
    assert pollers == [{"QueueName": {"Fn::GetAtt": ["ContactsQueue", "QueueName"]}}]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_wildcards_in_the_functions_own_policies(function: str) -> None:
    for statement in _statements(function):
        assert "*" not in str(statement["Resource"])
        assert all("*" not in action for action in _actions(statement))


def test_every_parameter_is_described_and_outputs_give_what_callers_need() -> None:
    assert all(p.get("Description") for p in T["Parameters"].values())
    assert {
        "ContactsApiUrl",
        "ApiBaseUrl",
        "ApiKeyId",
        "ContactsQueueUrl",
        "ContactsDeadLetterQueueUrl",
        "EventBusName",
        "EventBusArn",
    } <= set(T["Outputs"])


def test_sam_validate_lint_passes() -> None:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    sam = Path(sys.executable).parent / "sam"
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _translated(parameters: dict[str, str]) -> dict[str, Any]:
    """The template as CloudFormation receives it after SAM's transform (samtranslator, as sam deploy)."""

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = yaml_parse(TEMPLATE.read_text())
    template["Globals"]["Function"]["CodeUri"] = "s3://artifacts/code.zip"  # what sam package puts there
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:intercom-token"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        translated: dict[str, Any] = transform(
            template, {"IntercomTokenSecretArn": secret, **parameters}, NoManagedPolicies()
        )
    return translated


def test_snapstart_is_off_unless_asked_and_the_api_calls_a_published_alias() -> None:
    assert T["Parameters"]["SnapStart"]["Default"] == "None"
    assert _props("CreateContactFunction")["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
    resources = _translated({"SnapStart": "PublishedVersions"})["Resources"]
    alias = next(k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Alias")
    assert resources[alias]["Properties"]["Name"] == "live"
    integration = resources["ContactsApi"]["Properties"]["Body"]["paths"]["/contacts"]["post"][
        "x-amazon-apigateway-integration"
    ]
    assert f"${{{alias}}}" in integration["uri"]["Fn::Sub"]  # SnapStart serves versions, not $LATEST
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert {"Ref": alias} in [p["Properties"]["FunctionName"] for p in permissions]


@pytest.mark.parametrize("authorizer", ["NONE", "AWS_IAM"])
def test_only_the_docs_page_is_served_without_the_api_key(authorizer: str) -> None:
    # Given the template as CloudFormation receives it, with either authorizer
    paths = _translated({"ApiAuthorizer": authorizer})["Resources"]["ContactsApi"]["Properties"]["Body"][
        "paths"
    ]
    # When each method's security is read
    keyless = {
        (path, method)
        for path, methods in paths.items()
        for method, operation in methods.items()
        if not any("api_key" in requirement for requirement in operation.get("security", []))
    }
    # Then only GET /docs, which a browser opens without a way to send x-api-key, needs no key
    assert keyless == {("/docs", "get")}
