"""The pointer `.local-stack.env` (what make redrive, make import and make invoke follow) belongs to the
user's `make run`: a stack started by tests keeps its own, and a stack removes only its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from tests.integration.stack import REPO_ROOT, running_stack

pytestmark = pytest.mark.slow  # starts the stack

CHECKOUT_POINTER = REPO_ROOT / ".local-stack.env"


def _pointer_state(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


@pytest.fixture(scope="module")
def before() -> bytes | None:
    """The checkout's pointer before this module's stack started: absent, or a `make run` of the user's."""
    return _pointer_state(CHECKOUT_POINTER)


@pytest.fixture(scope="module")
def stack(before: bytes | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_stack(tmp_path_factory.mktemp("stack")) as state:
        yield state


def _invoke(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "local.invoke",
            "CreateContactFunction",
            str(REPO_ROOT / "events/api_create_user.json"),
        ],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_stack_started_by_tests_leaves_the_checkouts_pointer_alone(
    stack: dict[str, Any], before: bytes | None
) -> None:
    # Given a stack started by tests, up and running
    # When its pointer and the checkout's are read
    own = Path(stack["env_file"])
    # Then it wrote its own pointer in its own folder, naming it, and the checkout's is as it was
    assert own.parent != REPO_ROOT
    assert f"API_URL ?= {stack['api_url']}\n" in own.read_text()
    assert _pointer_state(CHECKOUT_POINTER) == before


def test_make_invoke_says_which_stack_it_uses_and_uses_it(stack: dict[str, Any]) -> None:
    # When a function is invoked from the folder of the stack's pointer
    invoked = _invoke(Path(stack["env_file"]).parent)
    # Then it says it uses that stack, and the contact is in that stack's sandbox
    assert invoked.returncode == 0, invoked.stderr
    assert invoked.stderr.startswith(f"invoke: the local stack at {stack['api_url']} ({stack['env_file']})")
    body = json.loads(json.loads((REPO_ROOT / "events/api_create_user.json").read_text())["body"])
    contacts = json.loads(urllib3.request("GET", stack["sandbox_url"] + "/contacts").data)["data"]
    assert body["email"] in {contact["email"] for contact in contacts}


def test_make_invoke_without_a_pointer_says_it_uses_a_throwaway_stack(tmp_path: Path) -> None:
    # When a function is invoked from a folder that no pointer covers
    invoked = _invoke(tmp_path)
    # Then it says so before anything else, and still answers
    assert invoked.returncode == 0, invoked.stderr
    assert invoked.stderr.startswith("invoke: no .local-stack.env here")
    assert json.loads(invoked.stdout)["statusCode"] == 201


def test_a_stack_does_not_remove_a_pointer_another_stack_took_over(
    tmp_path: Path, before: bytes | None
) -> None:
    # Given a stack whose pointer another stack then took over
    with running_stack(tmp_path) as stack:
        pointer = Path(stack["env_file"])
        pointer.write_text("API_URL ?= http://127.0.0.1:3999\n")
    # When it has stopped: then the other stack's pointer is still there, and the checkout's untouched
    assert pointer.read_text() == "API_URL ?= http://127.0.0.1:3999\n"
    assert _pointer_state(CHECKOUT_POINTER) == before
