"""`make run`'s terminal as a person watches it: the banner, a line per outcome event, warning and
error, and the functions' JSON logs in the file the banner names; a Ctrl-C that stops, quietly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import urllib3

from tests.integration.stack import running_stack

pytestmark = pytest.mark.slow  # starts the stack

KEY = {"x-api-key": "local-dev-key", "Content-Type": "application/json"}
http = urllib3.PoolManager(retries=False, timeout=30)


def _wait(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _ctrl_c(process: subprocess.Popen[bytes]) -> int:
    """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
    os.killpg(process.pid, signal.SIGINT)
    return process.wait(timeout=60)


def _after_banner(stack: dict[str, Any]) -> list[str]:
    lines = stack["output"].read_text().splitlines()
    return lines[
        next(n for n, line in enumerate(lines) if "/contacts/batch/<batch_id>" in line and "curl" in line)
        + 1 :
    ]


def test_100_contacts_print_a_line_per_event_and_their_json_logs_go_to_the_log_file(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        _send_100_contacts_then_ctrl_c(stack)
    # Then under 5% of what the terminal shows is JSON log lines, and each outcome event is one line
    printed = stack["output"].read_text().splitlines()
    assert sum(map(_is_json, printed)) < 0.05 * len(printed)
    after = _after_banner(stack)
    assert [sum(contact_id in line for line in after) for contact_id in stack["ids"]] == [1] * 50
    assert (
        sum(line.startswith("event  Contact Created") and stack["batch_id"] in line for line in after) == 50
    )
    assert sum(line.startswith("event  Batch Completed") for line in after) == 1
    # And the functions' JSON logs are in the log file the banner names, a line for each contact created
    assert stack["log_file"] in stack["output"].read_text()
    logged = [json.loads(line) for line in Path(stack["log_file"]).read_text().splitlines()]
    assert sum(entry.get("message") == "contact created" for entry in logged) == 100


def _send_100_contacts_then_ctrl_c(stack: dict[str, Any]) -> None:
    """When 100 contacts go through the stack (50 one by one, 50 in a batch) and it is stopped."""
    ids = []
    for n in range(50):
        body = json.dumps({"role": "lead", "email": f"one{n}@example.com"})
        ids.append(
            json.loads(http.request("POST", stack["api_url"] + "/contacts", body=body, headers=KEY).data)[
                "id"
            ]
        )
    batch = {"contacts": [{"role": "lead", "email": f"many{n}@example.com"} for n in range(50)]}
    batch_id = json.loads(
        http.request("POST", stack["api_url"] + "/contacts/batch", body=json.dumps(batch), headers=KEY).data
    )["batch_id"]
    _wait("the batch's event", lambda: any("Batch Completed" in line for line in _after_banner(stack)))
    _wait("every event", lambda: sum(line.startswith("event") for line in _after_banner(stack)) >= 101)
    assert _ctrl_c(stack["process"]) == 0
    stack.update(ids=ids, batch_id=batch_id)


def test_a_function_error_is_one_short_line(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        # Given Intercom fails every call
        http.request(
            "POST",
            stack["sandbox_url"] + "/_sandbox/faults",
            body=json.dumps({"kind": "fail", "status": 401, "count": 100}),
        )
        # When a contact cannot be created
        body = json.dumps({"role": "lead", "email": "refused@example.com"})
        answer = http.request("POST", stack["api_url"] + "/contacts", body=body, headers=KEY)
        assert answer.status >= 400
        code = json.loads(answer.data)["code"]
        # Then the terminal shows one line naming the function and the code, and no JSON
        shown = _wait(
            "the error line",
            lambda: [line for line in _after_banner(stack) if "CreateContactFunction" in line],
        )
    assert len(shown) == 1
    assert shown[0].startswith("warning CreateContactFunction  contact request failed")
    assert code in shown[0]
    assert not any(map(_is_json, _after_banner(stack)))


def test_ctrl_c_while_a_batch_drains_stops_without_reporting_crashes(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        # Given the worker busy: Intercom answers slowly
        http.request(
            "POST",
            stack["sandbox_url"] + "/_sandbox/faults",
            body=json.dumps({"kind": "delay", "seconds": 2, "count": 100}),
        )
        batch = {"contacts": [{"role": "lead", "email": f"busy{n}@example.com"} for n in range(30)]}
        http.request("POST", stack["api_url"] + "/contacts/batch", body=json.dumps(batch), headers=KEY)
        time.sleep(3)
        # When the person presses Ctrl-C
        code = _ctrl_c(stack["process"])
    # Then the stack stops, and says nothing of crashes or replaced processes
    assert code == 0
    after = "\n".join(_after_banner(stack))
    for alarming in ("crashed", "starting another", "Traceback", "KeyboardInterrupt"):
        assert alarming not in after
