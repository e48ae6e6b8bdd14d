"""The template's functions as local processes see them: handler, timeout, environment, routes.

Each function runs in its own process (a container, as Lambda runs it), so each reads its own
environment once, exactly as deployed.
"""

from __future__ import annotations

import importlib
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.template import load_template

if TYPE_CHECKING:  # a type only: function processes import this module and need neither boto3 nor moto
    from local.aws import LocalAws

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LocalContext:
    """Lambda's context object: the fields Powertools reads, and the invocation's real countdown."""

    function_name: str
    timeout_seconds: float
    memory_limit_in_mb: int = 256
    aws_request_id: str = ""
    started: float = 0.0

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.started = self.started or time.monotonic()
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass(frozen=True)
class LocalFunction:
    logical_id: str
    handler_path: str
    timeout: int
    memory: int
    environment: dict[str, str]

    def load_handler(self) -> Handler:
        return import_handler(self.handler_path)

    def context(self) -> LocalContext:
        return LocalContext(self.logical_id, self.timeout, self.memory)


def import_handler(path: str) -> Handler:
    """The function named by a template's `Handler` (`package.module.function`), its module imported."""
    module, _, name = path.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


def resource_values(aws: LocalAws, *, intercom_base_url: str | None) -> dict[str, str]:
    """What `!Ref` gives for the template's resources and secret parameter, in the local stack."""
    values = {
        "ContactsQueue": aws.queue_url,
        "ContactsDeadLetterQueue": aws.dlq_url,
        "IdempotencyTable": aws.table_name,
        "RunLogTable": aws.run_log_table,
        "ContactEventBus": aws.event_bus,
        "IntercomTokenSecretArn": aws.secret_id,
    }
    if intercom_base_url:
        values["INTERCOM_BASE_URL"] = intercom_base_url
    return values


def load_function(logical_id: str, values: Mapping[str, str]) -> LocalFunction:
    """The function as the template defines it, with Refs resolved from `values` or parameter defaults."""
    template = load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
    properties = template["Resources"][logical_id]["Properties"]

    def resolve(value: Any) -> str:
        if isinstance(value, dict) and "Ref" in value:
            name = value["Ref"]
            if name in values:
                return str(values[name])
            return str(template["Parameters"].get(name, {}).get("Default", ""))  # "" for an unknown resource
        return str(value)

    variables = {
        **globals_.get("Environment", {}).get("Variables", {}),
        **properties.get("Environment", {}).get("Variables", {}),
    }
    environment = {name: resolve(value) for name, value in variables.items()}
    # A tunable (a variable the template sets from one of its parameters) set in the stack's own
    # environment wins over the parameter's default: `LEAD_LOOKUP_WINDOW_SECONDS=5 make run`, as
    # `sam local invoke --env-vars` would
    environment |= {
        name: os.environ[name]
        for name, value in variables.items()
        if name in os.environ
        and isinstance(value, dict)
        and value.get("Ref") in template.get("Parameters", {})
        and value["Ref"] not in values
    }
    if "INTERCOM_BASE_URL" in values:
        environment["INTERCOM_BASE_URL"] = values["INTERCOM_BASE_URL"]
    return LocalFunction(
        logical_id=logical_id,
        handler_path=properties.get("Handler") or globals_["Handler"],
        timeout=int(properties.get("Timeout") or globals_.get("Timeout") or 3),
        memory=int(resolve(properties.get("MemorySize") or globals_.get("MemorySize") or 128)),
        environment=environment,
    )


def api_routes() -> dict[tuple[str, str], str]:
    """(METHOD, path) -> the logical id of the function the template routes it to."""
    routes = {}
    for logical_id, resource in load_template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                routes[(event["Properties"]["Method"].upper(), event["Properties"]["Path"])] = logical_id
    return routes


def queue_consumer() -> tuple[str, dict[str, Any]]:
    """The function the template feeds ContactsQueue to, and its event source's properties."""
    template = load_template()

    def resolved(value: Any) -> Any:
        if isinstance(value, dict) and "Ref" in value:
            return template["Parameters"][value["Ref"]]["Default"]
        return value

    for logical_id, resource in template["Resources"].items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "SQS":
                properties = dict(event["Properties"])
                for key in ("BatchSize", "MaximumBatchingWindowInSeconds"):
                    properties[key] = resolved(properties.get(key))
                scaling = properties.get("ScalingConfig") or {}
                properties["ScalingConfig"] = {name: resolved(value) for name, value in scaling.items()}
                return logical_id, properties
    raise LookupError("the template has no SQS-triggered function")
