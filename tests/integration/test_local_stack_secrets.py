"""The local stack keeps its secrets off command lines: `ps` shows every process's argv to every user,
and a secret read as an option breaks when it starts with `-`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import urllib3

from local.aws import client
from tests.integration.stack import running_stack

pytestmark = pytest.mark.slow  # starts the stack

API_KEY = "-an-api-key-that-looks-like-an-option"  # as secrets.token_urlsafe gives one time in 64


def _command_lines(process_group: int) -> list[str]:
    pids = subprocess.run(["pgrep", "-g", str(process_group)], capture_output=True, text=True, check=False)
    lines = []
    for pid in pids.stdout.split():
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except FileNotFoundError:  # a process that ended between pgrep and here
            continue
    return lines


def test_no_process_of_the_stack_has_a_secret_on_its_command_line(tmp_path: Path) -> None:
    # Given the stack, started with an API key that starts with "-"
    with running_stack(tmp_path, LOCAL_API_KEY=API_KEY) as stack:
        # When every process of its tree is listed, as `ps` shows them
        command_lines = _command_lines(stack["process"].pid)
        token = json.loads(
            client(stack["aws_endpoint_url"], "secretsmanager").get_secret_value(SecretId=stack["secret_id"])[
                "SecretString"
            ]
        )["token"]
        answer = urllib3.request(
            "POST",
            stack["api_url"] + "/contacts",
            body=json.dumps({"role": "lead", "email": "argv@example.com"}),
            headers={"x-api-key": API_KEY, "Content-Type": "application/json"},
            retries=False,
            timeout=30,
        )
    # Then the API answers with that key, and neither the sandbox's token nor the key is in any argv
    assert answer.status == 201, answer.data
    assert any("local.sandbox_server" in line for line in command_lines)
    assert any("local.gateway" in line for line in command_lines)
    assert [line for line in command_lines if token in line or API_KEY in line] == []
