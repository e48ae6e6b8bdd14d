"""`make run` as a user meets it: the stack started as a process tree, driven over HTTP, then stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from local.aws import client
from tests.integration.stack import running_stack

pytestmark = pytest.mark.slow  # seconds to minutes each: `make test-fast` skips them

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY = {"x-api-key": "local-dev-key", "Content-Type": "application/json"}
http = urllib3.PoolManager(retries=False, timeout=10)


def _wait(what: str, check: Callable[[], Any], timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_stack(tmp_path_factory.mktemp("stack")) as state:
        yield state


def _post(stack: dict[str, Any], path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return http.request(
        "POST", stack["api_url"] + path, body=json.dumps(body), headers=KEY if headers is None else headers
    )


def _sandbox_emails(stack: dict[str, Any]) -> set[str]:
    data = json.loads(http.request("GET", stack["sandbox_url"] + "/contacts").data)["data"]
    return {contact["email"] for contact in data}


def _sqs(stack: dict[str, Any]) -> Any:
    return client(stack["aws_endpoint_url"], "sqs")


def test_create_then_duplicate(stack: dict[str, Any]) -> None:
    first = _post(stack, "/contacts", {"role": "user", "email": "jane@example.com", "name": "Jane"})
    again = _post(stack, "/v1/contacts", {"role": "user", "email": "jane@example.com"})
    assert first.status == 201
    assert (again.status, again.headers["X-Contact-Outcome"]) == (200, "existing")
    assert json.loads(again.data)["id"] == json.loads(first.data)["id"]


def test_the_api_key_is_enforced_and_unknown_routes_refused(stack: dict[str, Any]) -> None:
    missing = _post(stack, "/contacts", {"role": "lead", "email": "x@example.com"}, headers={})
    unknown = _post(stack, "/nothing", {}, headers=KEY)
    assert (missing.status, json.loads(missing.data)) == (403, {"message": "Forbidden"})
    assert (unknown.status, json.loads(unknown.data)) == (403, {"message": "Missing Authentication Token"})


def test_the_openapi_document_and_docs_are_served(stack: dict[str, Any]) -> None:
    spec = json.loads(http.request("GET", stack["api_url"] + "/openapi.json").data)
    assert {"/contacts", "/contacts/batch"} <= set(spec["paths"])
    assert b"swagger" in http.request("GET", stack["api_url"] + "/docs").data.lower()


def test_a_batch_is_processed_by_the_worker(stack: dict[str, Any]) -> None:
    answer = _post(
        stack,
        "/contacts/batch",
        {"contacts": [{"role": "lead", "email": f"b{n}@example.com"} for n in range(3)]},
    )
    assert answer.status == 202
    _wait("the batch in Intercom", lambda: {f"b{n}@example.com" for n in range(3)} <= _sandbox_emails(stack))


def test_an_outage_dead_letters_and_a_redrive_recovers(stack: dict[str, Any]) -> None:
    # Given Intercom fails everything
    http.request(
        "POST",
        stack["sandbox_url"] + "/_sandbox/faults",
        body=json.dumps({"kind": "fail", "status": 503, "count": 100000}),
    )
    assert (
        _post(
            stack, "/contacts/batch", {"contacts": [{"role": "lead", "email": "outage@example.com"}]}
        ).status
        == 202
    )
    # Then the message ends in the DLQ after its five receives
    sqs = _sqs(stack)

    def dead_lettered() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"]
        )
        return attributes["Attributes"]["ApproximateNumberOfMessages"] == "1"

    _wait("the DLQ", dead_lettered)
    # When the outage ends and the reason is redriven
    http.request("DELETE", stack["sandbox_url"] + "/_sandbox/faults")
    redrive = subprocess.run(
        [sys.executable, "-m", "intercom_contacts.redrive", "--reason", "INTERCOM_UNAVAILABLE"],
        env={
            **os.environ,
            "AWS_ENDPOINT_URL": stack["aws_endpoint_url"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "CONTACTS_QUEUE_URL": stack["queue_url"],
            "CONTACTS_DLQ_URL": stack["dlq_url"],
            "PYTHONPATH": str(REPO_ROOT / "src"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert redrive.returncode == 0, redrive.stderr
    assert "moved 1 message(s) with ErrorCode INTERCOM_UNAVAILABLE" in redrive.stdout
    # Then the contact is created
    _wait("the redriven contact", lambda: "outage@example.com" in _sandbox_emails(stack))


def test_a_blank_query_value_reaches_the_function_as_api_gateway_sends_it(stack: dict[str, Any]) -> None:
    answer = _post(stack, "/contacts?on_conflict=", {"role": "lead", "email": "blank@example.com"})
    assert answer.status == 422
    assert json.loads(answer.data)["fields"][0]["field"] == "on_conflict"


def test_ctrl_c_stops_the_whole_tree(stack: dict[str, Any]) -> None:
    # Runs last in this module: stopping the stack the way a user does
    process: subprocess.Popen[bytes] = stack["process"]
    port = int(stack["api_url"].rsplit(":", 1)[1])
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert not (REPO_ROOT / ".local-stack.env").exists()
    leftovers = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == ""
