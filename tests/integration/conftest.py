"""Call the functions in-process, with the events API Gateway and SQS send, against moto and the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from intercom_contacts.handlers import api
from local.events import api_gateway_event
from tests.conftest import FakeLambdaContext

USER = {"role": "user", "email": "jane@example.com", "name": "Jane Doe", "external_id": "u-1001"}
LEAD = {"role": "lead", "email": "lead@example.com", "name": "Lee Lead"}


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    headers: dict[str, str]
    body: Any


CallApi = Callable[..., ApiAnswer]


@pytest.fixture
def call_api(service_env: Any, lambda_context: FakeLambdaContext) -> CallApi:
    def call(
        body: Any,
        *,
        path: str = "/contacts",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> ApiAnswer:
        event = api_gateway_event(
            "POST",
            path,
            body=body if raw else json.dumps(body),
            headers={"Content-Type": "application/json", "x-api-key": "k", **(headers or {})},
            query=query,
        )
        answer = api.lambda_handler(event, lambda_context)
        headers = {name: values[-1] for name, values in (answer.get("multiValueHeaders") or {}).items()}
        headers.update(answer.get("headers") or {})
        return ApiAnswer(answer["statusCode"], headers, json.loads(answer["body"]))

    return call
