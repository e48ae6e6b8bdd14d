"""The local API Gateway (local/gateway.py) over HTTP, with a synthetic route table and a stub function:
routing by path template, malformed headers refused, function failures answered as API Gateway does."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from local.gateway import Gateway, Route, match_route, serve
from local.runtime import CRASHED, FUNCTION_ERROR, OK, Outcome

KEY = {"x-api-key": "k"}
ROUTES = [
    Route("POST", "/contacts", "Api"),
    Route("POST", "/contacts/batch", "Api"),
    Route("GET", "/contacts/batch/{batch_id}", "Api"),
    Route("GET", "/contacts/batch/latest", "Api"),
    Route("POST", "/contacts/batch/{batch_id}/retry", "Api"),
    Route("GET", "/files/{path+}", "Files"),
]


class StubFunction:
    """Records the events it is invoked with; answers 200, or `outcome` when one is set."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.outcome: Outcome | None = None

    def __call__(self, event: dict[str, Any]) -> Outcome:
        self.events.append(event)
        return self.outcome or Outcome(OK, {"statusCode": 200, "body": json.dumps({"ok": True})})


STUB = StubFunction()


@pytest.fixture
def function() -> StubFunction:
    STUB.events.clear()
    STUB.outcome = None
    return STUB


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    gateway = Gateway(ROUTES, {"Api": STUB, "Files": STUB}, "k", lambda: "{}")
    server = serve(gateway, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


http = urllib3.PoolManager(retries=False, timeout=10)


def test_a_path_template_fills_resource_and_path_parameters(api_url: str, function: StubFunction) -> None:
    # When a path matches a route with a parameter
    answer = http.request("POST", f"{api_url}/v1/contacts/batch/b%2D42/retry", headers=KEY)
    # Then the function gets the template as the resource and the value as a path parameter
    assert answer.status == 200
    event = function.events[-1]
    assert event["resource"] == "/contacts/batch/{batch_id}/retry"
    assert event["requestContext"]["resourcePath"] == "/contacts/batch/{batch_id}/retry"
    assert event["path"] == "/contacts/batch/b%2D42/retry"
    assert event["pathParameters"] == {"batch_id": "b-42"}


def test_a_route_without_parameters_has_none(api_url: str, function: StubFunction) -> None:
    # When a path matches a route without parameters
    http.request("POST", f"{api_url}/contacts/batch", headers=KEY)
    # Then the resource is the path, and there are no path parameters
    assert (function.events[-1]["resource"], function.events[-1]["pathParameters"]) == (
        "/contacts/batch",
        None,
    )


def test_a_literal_segment_wins_over_a_parameter(api_url: str, function: StubFunction) -> None:
    # When one path matches /contacts/batch/latest and /contacts/batch/{batch_id}, another only the latter
    http.request("GET", f"{api_url}/contacts/batch/latest", headers=KEY)
    http.request("GET", f"{api_url}/contacts/batch/b-1", headers=KEY)
    # Then the literal route wins the first, as on API Gateway
    assert [e["resource"] for e in function.events] == [
        "/contacts/batch/latest",
        "/contacts/batch/{batch_id}",
    ]


def test_a_greedy_parameter_takes_the_rest_of_the_path(api_url: str, function: StubFunction) -> None:
    # When a path matches /files/{path+}
    http.request("GET", f"{api_url}/files/a/b/c.txt", headers=KEY)
    # Then the parameter holds every remaining segment
    assert function.events[-1]["pathParameters"] == {"path": "a/b/c.txt"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/contacts"),
        ("POST", "/contacts/batch/b-1"),
        ("GET", "/contacts/batch/b-1/retry"),
        ("GET", "/files"),
    ],
)
def test_no_matching_route_is_missing_authentication_token(
    api_url: str, function: StubFunction, method: str, path: str
) -> None:
    # When no route has this method and path
    answer = http.request(method, f"{api_url}{path}", headers=KEY)
    # Then API Gateway's answer comes back, and the function is not invoked
    assert (answer.status, json.loads(answer.data)) == (403, {"message": "Missing Authentication Token"})
    assert function.events == []


def test_the_route_table_matches_as_api_gateway_prefers() -> None:
    # Given the synthetic routes: then literal beats parameter, and an unknown method matches nothing
    assert match_route(ROUTES, "GET", "/contacts/batch/latest") == (ROUTES[3], {})
    assert match_route(ROUTES, "GET", "/contacts/batch/x") == (ROUTES[2], {"batch_id": "x"})
    assert match_route(ROUTES, "DELETE", "/contacts") is None


def _raw_request(api_url: str, head: bytes) -> bytes:
    """Sends bytes no HTTP client library would send, and returns the answer's status line."""
    port = int(api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        return connection.recv(65536).split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    "header",
    [
        b"Idempotency-Key: abc\rX-Injected: 1",
        b"Idempotency-Key: abc\x00def",
        b"Idempotency-Key: abc\x1bdef",
        b"Idem potency-Key: abc",
        b"Idempotency-Key: abc\r\n  folded",
    ],
)
def test_a_malformed_header_is_refused_with_400(api_url: str, function: StubFunction, header: bytes) -> None:
    # When a header holds a control character (a bare CR would split it in two), a bad name, or a fold
    status = _raw_request(
        api_url,
        b"POST /contacts HTTP/1.1\r\nHost: local\r\nx-api-key: k\r\n"
        + header
        + b"\r\nContent-Length: 2\r\n\r\n{}",
    )
    # Then it is refused before reaching the function
    assert status == b"HTTP/1.1 400 Bad Request"
    assert function.events == []


def test_a_tab_and_non_ascii_bytes_in_a_header_are_accepted(api_url: str, function: StubFunction) -> None:
    # When a header value holds a tab and UTF-8 bytes, which HTTP allows
    status = _raw_request(
        api_url,
        b"POST /contacts HTTP/1.1\r\nHost: local\r\nx-api-key: k\r\nX-Note: a\tb \xc3\xa9\r\nContent-Length: 2\r\n\r\n{}",
    )
    # Then the request reaches the function
    assert status == b"HTTP/1.1 200 OK"
    assert len(function.events) == 1


@pytest.mark.parametrize("outcome", [Outcome(CRASHED), Outcome(OK, {"body": "no statusCode"})])
def test_a_failed_invocation_is_a_502(api_url: str, function: StubFunction, outcome: Outcome) -> None:
    # Given the function crashes, or answers something that is not a proxy response
    function.outcome = outcome
    answer = http.request("POST", f"{api_url}/contacts", headers=KEY)
    # Then the caller gets API Gateway's answer to a failed integration
    assert (answer.status, json.loads(answer.data)) == (502, {"message": "Internal server error"})


@pytest.mark.parametrize("length", [b"abc", b"1e3", b"-1", b"+2", b" ", b"2, 2", b"2\r\nContent-Length: 2"])
def test_a_content_length_that_is_not_a_number_is_refused_with_400(
    api_url: str, function: StubFunction, length: bytes
) -> None:
    # When the Content-Length is not a decimal count of bytes
    status = _raw_request(
        api_url,
        b"POST /contacts HTTP/1.1\r\nHost: local\r\nx-api-key: k\r\nContent-Length: "
        + length
        + b"\r\n\r\n{}",
    )
    # Then API Gateway's 400 comes back, and the function is not invoked
    assert status == b"HTTP/1.1 400 Bad Request"
    assert function.events == []


def test_a_failed_invocation_is_reported_in_one_line(
    api_url: str, function: StubFunction, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the function fails with an error of its own
    function.outcome = Outcome(FUNCTION_ERROR, {"errorType": "ValueError", "errorMessage": "boom"})
    # When a request reaches it
    http.request("POST", f"{api_url}/contacts", headers=KEY)
    # Then the gateway says, in one line, which request failed in which function, and how
    assert [r.getMessage() for r in caplog.records if r.name == "local.gateway"] == [
        "POST /contacts: Api function error (ValueError), answered 502"
    ]
