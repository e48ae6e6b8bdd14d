"""What a function builds at init (the handler module's import), in a fresh interpreter as Lambda
starts one: every client and layer a request uses is there before the first request, and a
misconfigured function still initialises and answers its first request with CONFIGURATION_ERROR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from local.aws import LocalAws
from local.intercom_sandbox import IntercomSandbox

REPO_ROOT = Path(__file__).resolve().parents[2]
INIT_THEN_ONE_REQUEST = """
import json, sys
from intercom_contacts import services
from intercom_contacts.handlers import api
from local.events import api_gateway_event
from tests.conftest import FakeLambdaContext

factories = ("secrets_provider", "intercom_client", "dynamodb_client", "sqs_client", "outcomes",
             "contact_creator", "batches")
built = {name: getattr(services, name).cache_info().currsize for name in factories}
models = all(route._dependant is not None for route in api.app._static_routes + api.app._dynamic_routes)
event = api_gateway_event("POST", "/contacts", body=json.dumps({"role": "lead", "email": "init@example.com"}),
                          headers={"Content-Type": "application/json"})
answer = api.lambda_handler(event, FakeLambdaContext())
print(json.dumps({"built": built, "models": models, "status": answer["statusCode"],
                  "code": json.loads(answer["body"]).get("code")}))
"""


def _init_then_one_request(env: dict[str, str]) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, "-c", INIT_THEN_ONE_REQUEST],
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}",
            "POWERTOOLS_SERVICE_NAME": "intercom-contacts",
            "POWERTOOLS_METRICS_NAMESPACE": "IntercomContacts",
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    return result


def test_everything_a_request_uses_is_built_before_the_first_request(
    local_aws: LocalAws, sandbox: IntercomSandbox
) -> None:
    # Given the API function's environment as deployed
    env = {**local_aws.env(), "INTERCOM_BASE_URL": sandbox.url}
    # When it initialises and then takes one request
    result = _init_then_one_request(env)
    # Then every client, layer and route model was built by init, and the request was answered
    assert set(result["built"].values()) == {1}, result["built"]
    assert result["models"] is True
    assert result["status"] == 201


def test_a_misconfigured_function_initialises_and_its_first_request_says_so(local_aws: LocalAws) -> None:
    # Given a function deployed without its secret's id
    env = {name: value for name, value in local_aws.env().items() if name != "INTERCOM_TOKEN_SECRET_ID"}
    # When it initialises and takes one request
    result = _init_then_one_request(env)
    # Then init did not fail, and the request is answered with the configuration error
    assert (result["status"], result["code"]) == (500, "CONFIGURATION_ERROR")
