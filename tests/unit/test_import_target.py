"""Where the import sends: options, then the environment, then the local stack; or a deployed stack's outputs."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from intercom_contacts.importer.problems import UsageProblem
from intercom_contacts.importer.target import ApiTarget, from_stack, resolve

STACK_ENV = "AWS_DEFAULT_REGION ?= us-east-1\nAPI_URL ?= http://127.0.0.1:3000\nSANDBOX_URL ?= http://127.0.0.1:8111\n"


def test_options_win_over_the_environment(tmp_path: Path) -> None:
    environ = {"CONTACTS_API_URL": "https://env.example.com/v1", "CONTACTS_API_KEY": "env-key"}
    target = resolve(api="https://opt.example.com/v1/", api_key="opt-key", environ=environ, cwd=tmp_path)
    assert target == ApiTarget("https://opt.example.com/v1", "opt-key", "--api")


def test_the_environment_is_used_without_options(tmp_path: Path) -> None:
    environ = {"CONTACTS_API_URL": "https://env.example.com/v1", "CONTACTS_API_KEY": "env-key"}
    target = resolve(api=None, api_key=None, environ=environ, cwd=tmp_path)
    assert (target.url, target.api_key) == ("https://env.example.com/v1", "env-key")


def test_the_local_stack_is_found_from_a_subdirectory_of_its_checkout(tmp_path: Path) -> None:
    # Given `make run` is up (its file at the checkout's root, without an API_KEY line yet)
    (tmp_path / ".local-stack.env").write_text(STACK_ENV)
    (tmp_path / "data").mkdir()
    # When the import runs from a subdirectory with no options
    target = resolve(api=None, api_key=None, environ={}, cwd=tmp_path / "data")
    # Then it sends to the local API with the local default key
    assert (target.url, target.api_key) == ("http://127.0.0.1:3000", "local-dev-key")


def test_the_local_stacks_own_key_is_used_when_it_names_one(tmp_path: Path) -> None:
    (tmp_path / ".local-stack.env").write_text(STACK_ENV + "API_KEY ?= s3cret\n")
    assert resolve(api=None, api_key=None, environ={}, cwd=tmp_path).api_key == "s3cret"


@pytest.mark.parametrize(
    ("api", "api_key", "code"),
    [
        (None, None, "NO_API"),
        ("https://api.example.com/v1", None, "NO_API_KEY"),
        ("http://api.example.com/v1", "k", "INVALID_API_URL"),
        ("api.example.com", "k", "INVALID_API_URL"),
    ],
)
def test_a_missing_or_unsafe_target_is_a_usage_problem(
    tmp_path: Path, api: str | None, api_key: str | None, code: str
) -> None:
    with pytest.raises(UsageProblem) as problem:
        resolve(api=api, api_key=api_key, environ={}, cwd=tmp_path)
    assert problem.value.code == code


def _clients(outputs: list[dict[str, str]], key_value: str | None = None) -> tuple[object, object]:
    cloudformation = boto3.client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    apigateway = boto3.client(
        "apigateway", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stack = {
        "StackName": "contacts",
        "CreationTime": "2025-01-01T00:00:00Z",
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": outputs,
    }
    cfn_stub, apigw_stub = Stubber(cloudformation), Stubber(apigateway)
    cfn_stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "contacts"})
    if key_value is not None:
        apigw_stub.add_response(
            "get_api_key", {"id": "k1", "value": key_value}, {"apiKey": "k1", "includeValue": True}
        )
    cfn_stub.activate()
    apigw_stub.activate()
    return cloudformation, apigateway


def test_a_stacks_outputs_give_the_base_url_and_the_keys_value() -> None:
    # Given a stack with today's outputs: the POST /contacts URL and the key's id
    cloudformation, apigateway = _clients(
        [
            {
                "OutputKey": "ContactsApiUrl",
                "OutputValue": "https://abc.execute-api.eu-west-1.amazonaws.com/v1/contacts",
            },
            {"OutputKey": "ApiKeyId", "OutputValue": "k1"},
        ],
        key_value="the-key",
    )
    # When the target is read from it
    target = from_stack("contacts", None, cloudformation=cloudformation, apigateway=apigateway)  # type: ignore[arg-type]
    # Then the URL is the API's base, and the key's value comes from API Gateway
    assert (target.url, target.api_key) == ("https://abc.execute-api.eu-west-1.amazonaws.com/v1", "the-key")


def test_a_base_url_output_is_preferred_and_a_given_key_is_not_looked_up() -> None:
    cloudformation, apigateway = _clients(
        [
            {"OutputKey": "ApiBaseUrl", "OutputValue": "https://base.example.com/v1"},
            {"OutputKey": "ContactsApiUrl", "OutputValue": "https://other.example.com/v1/contacts"},
            {"OutputKey": "ApiKeyId", "OutputValue": "k1"},
        ]
    )
    target = from_stack("contacts", "mine", cloudformation=cloudformation, apigateway=apigateway)  # type: ignore[arg-type]
    assert (target.url, target.api_key) == ("https://base.example.com/v1", "mine")


def test_a_stack_without_the_outputs_is_a_usage_problem() -> None:
    cloudformation, apigateway = _clients([{"OutputKey": "Other", "OutputValue": "x"}])
    with pytest.raises(UsageProblem) as problem:
        from_stack("contacts", None, cloudformation=cloudformation, apigateway=apigateway)  # type: ignore[arg-type]
    assert problem.value.code == "STACK_OUTPUTS_MISSING"


def test_a_stack_that_cannot_be_read_is_a_usage_problem() -> None:
    cloudformation = boto3.client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(cloudformation)
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist")
    stub.activate()
    with pytest.raises(UsageProblem) as problem:
        from_stack("nope", None, cloudformation=cloudformation, apigateway=cloudformation)  # type: ignore[arg-type]
    assert problem.value.code == "STACK_UNREADABLE"
    assert "does not exist" in problem.value.message


def test_no_region_is_a_usage_problem_saying_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(UsageProblem) as problem:
        from_stack("contacts", None)
    assert problem.value.code == "STACK_UNREADABLE"
    assert "AWS_REGION" in problem.value.message
