"""Where the import sends: `--stack-name`, else `--api`/`CONTACTS_API_URL`, else the local stack.

`make run` writes `.local-stack.env` (lines `NAME ?= value`) at the checkout's root while it is up;
it is looked for in the current directory and its parents. A deployed stack's outputs give the URL
(`ApiBaseUrl`, or `ContactsApiUrl` without its `/contacts`) and the API key's id (`ApiKeyId`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from intercom_contacts.config import is_loopback_host
from intercom_contacts.importer.problems import UsageProblem

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_cloudformation import CloudFormationClient

LOCAL_STACK_FILE = ".local-stack.env"
LOCAL_API_KEY = "local-dev-key"  # local/stack.py's default, for a stack file that does not name its key
URL_VARIABLE, KEY_VARIABLE = "CONTACTS_API_URL", "CONTACTS_API_KEY"


@dataclass(frozen=True)
class ApiTarget:
    url: str
    api_key: str
    origin: str  # where the URL came from, said before sending


def resolve(*, api: str | None, api_key: str | None, environ: Mapping[str, str], cwd: Path) -> ApiTarget:
    """The target from options, then the environment, then a running local stack."""
    key = api_key or environ.get(KEY_VARIABLE)
    if api or environ.get(URL_VARIABLE):
        url = api or environ[URL_VARIABLE]
        if not key:
            raise UsageProblem(
                "NO_API_KEY", f"{url} needs an API key: pass --api-key KEY or set {KEY_VARIABLE}."
            )
        return checked(url, key, "--api" if api else URL_VARIABLE)
    if (stack_file := _local_stack_file(cwd)) is not None:
        values = read_stack_file(stack_file)
        if values.get("API_URL"):
            return checked(
                values["API_URL"],
                key or values.get("API_KEY") or LOCAL_API_KEY,
                f"the local stack, {stack_file}",
            )
    raise UsageProblem(
        "NO_API",
        f"Nowhere to send: pass --api URL --api-key KEY, set {URL_VARIABLE} and {KEY_VARIABLE}, pass "
        "--stack-name NAME for a deployed stack, or start the local stack with `make run` and run this "
        "from its checkout.",
    )


def from_stack(
    stack_name: str,
    api_key: str | None,
    *,
    cloudformation: CloudFormationClient | None = None,
    apigateway: APIGatewayClient | None = None,
) -> ApiTarget:
    """The URL and key of a deployed stack, from its outputs (the key's value from API Gateway)."""
    try:
        cloudformation = cloudformation or boto3.client("cloudformation")
        apigateway = apigateway or boto3.client("apigateway")
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        outputs = {out["OutputKey"]: out["OutputValue"] for out in stacks[0].get("Outputs", [])}
        url = outputs.get("ApiBaseUrl") or outputs.get("ContactsApiUrl", "").removesuffix("/contacts")
        if not url or not (api_key or outputs.get("ApiKeyId")):
            raise UsageProblem(
                "STACK_OUTPUTS_MISSING",
                f"Stack {stack_name} has no ApiBaseUrl/ContactsApiUrl or ApiKeyId output; is it this "
                "service's stack? Pass --api and --api-key instead.",
            )
        key = api_key or apigateway.get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)["value"]
    except ClientError as error:
        reason = error.response.get("Error", {}).get("Message", "").rstrip(".")
        raise UsageProblem(
            "STACK_UNREADABLE",
            f"Could not read stack {stack_name}: {reason}; check the name, AWS_REGION and AWS_PROFILE.",
        ) from None
    except BotoCoreError as error:
        raise UsageProblem(
            "STACK_UNREADABLE",
            f"Could not read stack {stack_name}: {str(error).rstrip('.')}; set AWS_REGION and credentials "
            "(AWS_PROFILE).",
        ) from None
    return checked(url, key, f"stack {stack_name}")


def checked(url: str, api_key: str, origin: str) -> ApiTarget:
    """The API key goes with every request, so only over https (or plain http to this machine)."""
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and is_loopback_host(parts.hostname or "")
    if not parts.hostname or (parts.scheme != "https" and not loopback):
        raise UsageProblem(
            "INVALID_API_URL",
            f"{url} ({origin}) must be an https URL (plain http only to this machine), "
            "e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/v1",
        )
    return ApiTarget(url.rstrip("/"), api_key, origin)


def read_stack_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, separator, value = line.partition("=")
        if separator and not line.lstrip().startswith("#"):
            values[name.removesuffix("?").strip()] = value.strip()
    return values


def _local_stack_file(cwd: Path) -> Path | None:
    for directory in (cwd, *cwd.parents):
        if (candidate := directory / LOCAL_STACK_FILE).is_file():
            return candidate
    return None
