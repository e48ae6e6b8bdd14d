"""The docs page as the deployed API serves it (GET /docs, the function's own route): whole, so a
browser offline or behind a strict proxy renders it, and the document it shows is the API's."""

from __future__ import annotations

import json
import re
from typing import Any

from intercom_contacts.handlers import api
from local.events import api_gateway_event
from tests.conftest import FakeLambdaContext

OUTSIDE_SCRIPT_OR_STYLE = re.compile(r"<(script|link)[^>]+(src|href)=[\"']?https?://", re.IGNORECASE)


def _get(path: str, lambda_context: FakeLambdaContext, query: dict[str, str] | None = None) -> dict[str, Any]:
    event = api_gateway_event("GET", path, body=None, headers={}, query=query)
    answer: dict[str, Any] = api.lambda_handler(event, lambda_context)
    return answer


def test_the_deployed_docs_page_carries_swagger_ui_itself(
    service_env: Any, lambda_context: FakeLambdaContext
) -> None:
    # Given the API function as deployed
    # When a browser opens GET /docs
    answer = _get("/docs", lambda_context)
    # Then the page is HTML with Swagger UI's code inlined, and loads no script or style from any host
    content_type = (answer.get("headers") or {}).get("Content-Type") or answer["multiValueHeaders"][
        "Content-Type"
    ][-1]
    assert (answer["statusCode"], content_type) == (200, "text/html")
    page = answer["body"]
    assert "SwaggerUIBundle" in page
    assert OUTSIDE_SCRIPT_OR_STYLE.search(page) is None


def test_the_deployed_docs_page_shows_the_apis_own_document(
    service_env: Any, lambda_context: FakeLambdaContext
) -> None:
    # Given the API function as deployed
    # When the page's document is asked for
    answer = _get("/docs", lambda_context, query={"format": "json"})
    # Then it is the API's OpenAPI document, with every operation and without the docs route itself
    document = json.loads(answer["body"])
    assert {(path, method) for path, methods in document["paths"].items() for method in methods} == {
        ("/contacts", "post"),
        ("/contacts/batch", "post"),
        ("/contacts/batch/{batch_id}", "get"),
        ("/contacts/batch/{batch_id}/retry", "post"),
        ("/contacts/attributes", "get"),
        ("/contacts/attributes", "post"),
    }
