"""`make run` as a user meets it: the stack started as a process tree, driven over HTTP, then stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
    assert {
        "/contacts",
        "/contacts/batch",
        "/contacts/batch/{batch_id}",
        "/contacts/batch/{batch_id}/retry",
    } <= set(spec["paths"])
    assert b"swagger" in http.request("GET", stack["api_url"] + "/docs").data.lower()


def test_a_batch_is_processed_by_the_worker(stack: dict[str, Any]) -> None:
    answer = _post(
        stack,
        "/contacts/batch",
        {"contacts": [{"role": "lead", "email": f"b{n}@example.com"} for n in range(3)]},
    )
    assert answer.status == 202
    _wait("the batch in Intercom", lambda: {f"b{n}@example.com" for n in range(3)} <= _sandbox_emails(stack))


def test_a_batch_can_be_followed_through_its_run_log_and_its_events_are_printed(
    stack: dict[str, Any],
) -> None:
    # Given a batch of two leads and an invalid item, posted to the running stack
    contacts = [{"role": "lead", "email": "r0@example.com"}, {"role": "lead", "email": "r1@example.com"}, {}]
    posted = _post(stack, "/contacts/batch", {"contacts": contacts})
    location = posted.headers["Location"]

    # When the worker has created them
    def completed() -> Any:
        log = json.loads(http.request("GET", stack["api_url"] + location, headers=KEY).data)
        return log if log["status"] == "completed" else None

    log = _wait("the batch's completion", completed)
    # Then the run log names the contacts the sandbox holds, and the stack printed each outcome
    by_email = {
        c["email"]: c["id"]
        for c in json.loads(http.request("GET", stack["sandbox_url"] + "/contacts").data)["data"]
    }
    assert [(item["status"], item.get("contact_id")) for item in log["items"]] == [
        ("created", by_email["r0@example.com"]),
        ("created", by_email["r1@example.com"]),
        ("rejected", None),
    ]
    batch_id = log["batch_id"]
    printed = _wait(
        "the printed events",
        lambda: [line for line in stack["output"].read_text().splitlines() if batch_id in line] or None,
    )
    assert sum("Contact Created" in line for line in printed) >= 2
    _wait("Batch Completed", lambda: "Batch Completed" in stack["output"].read_text())


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


def _function_pids(stack: dict[str, Any], function: str) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-g", str(stack["process"].pid), "-f", f"local.bootstrap {function}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [int(pid) for pid in found.stdout.split()]


def test_50_clients_at_once_all_get_an_answer(stack: dict[str, Any]) -> None:
    # Given 50 clients, each with a connection of its own, released at the same moment
    port = int(stack["api_url"].rsplit(":", 1)[1])
    start = threading.Barrier(50)

    def client(n: int) -> list[int | str]:
        connection = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, retries=False, timeout=60)
        start.wait()
        answers: list[int | str] = []
        for k in range(3):
            body = json.dumps({"role": "user", "email": f"c{n}-{k}@example.com"})
            try:
                answers.append(connection.request("POST", "/contacts", body=body, headers=KEY).status)
            except urllib3.exceptions.HTTPError as error:
                answers.append(type(error).__name__)
        return answers

    # When each posts three contacts
    with ThreadPoolExecutor(50) as clients:
        answers = [answer for answers in clients.map(client, range(50)) for answer in answers]
    # Then every request was answered, and created its contact
    assert Counter(answers) == {201: 150}


def test_a_header_value_with_a_bare_cr_is_refused(stack: dict[str, Any]) -> None:
    # Given a request whose Idempotency-Key holds a bare CR (http clients refuse to send one: raw bytes)
    body = json.dumps({"role": "lead", "email": "cr@example.com"}).encode()
    request = (
        b"POST /contacts HTTP/1.1\r\nHost: local\r\nx-api-key: local-dev-key\r\n"
        b"Content-Type: application/json\r\nIdempotency-Key: abc\rX-Injected: 1\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    port = int(stack["api_url"].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        status_line = connection.recv(65536).split(b"\r\n", 1)[0]
    # Then API Gateway's answer is 400, and nothing was created
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert "cr@example.com" not in _sandbox_emails(stack)


def test_a_killed_api_process_is_replaced_and_the_api_keeps_answering(stack: dict[str, Any]) -> None:
    # Given clients posting contacts without a pause, served by the API's processes
    before = _function_pids(stack, "CreateContactFunction")
    assert len(before) == stack["api_processes"]
    answers: list[int] = []
    stop = threading.Event()

    def client(n: int) -> None:
        k = 0
        while not stop.is_set():
            k += 1
            answers.append(
                _post(stack, "/contacts", {"role": "user", "email": f"k{n}-{k}@example.com"}).status
            )

    with ThreadPoolExecutor(4) as clients:
        for n in range(4):
            clients.submit(client, n)
        time.sleep(1)
        # When one of them is killed
        os.kill(before[0], signal.SIGKILL)
        killed_at = len(answers)
        time.sleep(3)
        stop.set()
    # Then at most the request it was serving failed (as API Gateway answers a crashed function), every
    # other request was answered, and a new process took its place
    assert len(answers) > killed_at + 20
    assert set(answers) <= {201, 502}
    assert answers.count(502) <= 1

    def replaced() -> list[int]:
        pids = _function_pids(stack, "CreateContactFunction")
        return pids if len(pids) == len(before) and before[0] not in pids else []

    _wait("a replacement process", replaced)


def test_a_killed_poller_is_restarted_and_the_queue_still_drains(stack: dict[str, Any]) -> None:
    # Given the process playing the SQS event source
    found = subprocess.run(
        ["pgrep", "-g", str(stack["process"].pid), "-f", "local.poller"],
        capture_output=True,
        text=True,
        check=False,
    )
    [poller] = [int(pid) for pid in found.stdout.split()]
    # When it is killed (and its last long poll, which may still take a message to nobody, is over)
    os.kill(poller, signal.SIGKILL)
    time.sleep(2)
    # Then the API keeps answering, and a batch queued meanwhile is created once the poller is back
    answer = _post(
        stack, "/contacts/batch", {"contacts": [{"role": "lead", "email": "after-poller@example.com"}]}
    )
    assert answer.status == 202
    _wait("the restarted poller", lambda: "after-poller@example.com" in _sandbox_emails(stack))
    assert "poller exited with -9; starting it again" in stack["output"].read_text()


@pytest.mark.slow
def test_a_worker_killed_under_load_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        # Given the queue's visibility timeout above the worker's 60 s timeout, as the template's 360 s
        # is: an invocation killed mid-way leaves its idempotency records in progress until then
        sqs = _sqs(stack)
        sqs.set_queue_attributes(QueueUrl=stack["queue_url"], Attributes={"VisibilityTimeout": "65"})
        # And 300 users queued, with Intercom answering the first 150 calls slowly: every worker is busy
        http.request(
            "POST",
            stack["sandbox_url"] + "/_sandbox/faults",
            body=json.dumps({"kind": "delay", "seconds": 1, "count": 150}),
        )
        emails = {f"kill{n}@example.com" for n in range(300)}
        users = [{"role": "user", "email": email, "external_id": email} for email in sorted(emails)]
        for start in range(0, 300, 100):
            assert _post(stack, "/contacts/batch", {"contacts": users[start : start + 100]}).status == 202
        _wait("the worker under way", lambda: len(_sandbox_emails(stack)) >= 20)
        # When a worker process is killed
        victim = _function_pids(stack, "ContactWorkerFunction")[0]
        os.kill(victim, signal.SIGKILL)
        # Then every contact is created, once, and no message is left in either queue
        counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

        def drained(url: str) -> bool:
            left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=counts)["Attributes"]
            return all(left[name] == "0" for name in counts)

        _wait("the queue to drain", lambda: drained(stack["queue_url"]), timeout=240)
        data = json.loads(http.request("GET", stack["sandbox_url"] + "/contacts").data)["data"]
        created = Counter(contact["email"] for contact in data)
        assert set(created) == emails
        assert max(created.values()) == 1
        assert drained(stack["dlq_url"])
        # And the killed process was mid-invocation, and was replaced
        assert "exited with -9 during an invocation" in stack["output"].read_text()
        workers = _function_pids(stack, "ContactWorkerFunction")
        assert len(workers) == stack["worker_processes"]
        assert victim not in workers


def test_ctrl_c_stops_the_whole_tree(stack: dict[str, Any]) -> None:
    # Runs last in this module: stopping the stack the way a user does
    process: subprocess.Popen[bytes] = stack["process"]
    port = int(stack["api_url"].rsplit(":", 1)[1])
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert not Path(stack["env_file"]).exists()  # its own pointer: it was still its own
    leftovers = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == ""
