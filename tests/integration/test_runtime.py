"""Execution environments (local/runtime.py): one invocation at a time per process, warm between
invocations, and a process that dies or overruns its timeout replaced, as on Lambda."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local.functions import LocalFunction
from local.runtime import CRASHED, FUNCTION_ERROR, OK, TIMED_OUT, FunctionPool

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}"}


def _function(name: str, timeout: int = 5) -> LocalFunction:
    return LocalFunction("TestFunction", f"tests.integration.runtime_functions.{name}", timeout, 128, {})


@pytest.fixture
def pool(request: pytest.FixtureRequest) -> Iterator[FunctionPool]:
    name, size, timeout = request.param
    started = FunctionPool(_function(name, timeout), size, ENVIRONMENT)
    started.wait_ready(60)
    yield started
    started.stop()


@pytest.mark.parametrize("pool", [("echo", 1, 5)], indirect=True)
def test_an_environment_stays_warm_between_invocations(pool: FunctionPool) -> None:
    # When one environment is invoked twice
    first, second = pool.invoke({"n": 1}), pool.invoke({"n": 2})
    # Then the same process answered both, keeping its module state, each with its event and context
    assert (first.status, second.status) == (OK, OK)
    assert first.payload["pid"] == second.payload["pid"]
    assert (first.payload["invocations"], second.payload["invocations"]) == (1, 2)
    assert second.payload["event"] == {"n": 2}
    assert first.payload["request_id"] != second.payload["request_id"]
    assert 0 < second.payload["remaining_ms"] <= 5000


@pytest.mark.parametrize("pool", [("sleep", 3, 10)], indirect=True)
def test_each_environment_runs_one_invocation_while_others_run_theirs(pool: FunctionPool) -> None:
    # When six invocations of 1 s arrive at once for three environments
    started = time.monotonic()
    with ThreadPoolExecutor(6) as callers:
        outcomes = list(callers.map(pool.invoke, [{"seconds": 1}] * 6))
    elapsed = time.monotonic() - started
    # Then three processes served two each, one after the other
    pids = [outcome.payload["pid"] for outcome in outcomes]
    assert sorted(pids.count(pid) for pid in set(pids)) == [2, 2, 2]
    assert 2 <= elapsed < 5


@pytest.mark.parametrize("pool", [("fail", 1, 5)], indirect=True)
def test_a_function_error_is_reported_and_the_process_carries_on(pool: FunctionPool) -> None:
    # Given an environment's process
    pid = pool.environments[0].pid
    # When the function raises
    outcome = pool.invoke({})
    # Then the outcome is the function's error, and the same process is still there for the next one
    assert outcome.status == FUNCTION_ERROR
    assert outcome.payload["errorType"] == "ValueError"
    assert pool.invoke({}).status == FUNCTION_ERROR
    assert pool.environments[0].pid == pid


@pytest.mark.parametrize("pool", [("sleep", 1, 30)], indirect=True)
def test_a_process_killed_mid_invocation_crashes_it_and_is_replaced(pool: FunctionPool) -> None:
    # Given an invocation under way
    pid = pool.environments[0].pid
    with ThreadPoolExecutor(1) as caller:
        running = caller.submit(pool.invoke, {"seconds": 20})
        time.sleep(1)
        # When its process is killed
        os.kill(pid, signal.SIGKILL)
        outcome = running.result(timeout=10)
    # Then the invocation ended as crashed, and a new process answers the next one
    assert (outcome.status, outcome.delivered) == (CRASHED, True)
    again = pool.invoke({"seconds": 0})
    assert again.status == OK
    assert again.payload["pid"] != pid


@pytest.mark.parametrize("pool", [("sleep", 1, 1)], indirect=True)
def test_an_invocation_past_the_timeout_is_stopped_and_its_process_replaced(pool: FunctionPool) -> None:
    # Given a function with a 1 s timeout
    pid = pool.environments[0].pid
    # When an invocation runs longer
    started = time.monotonic()
    outcome = pool.invoke({"seconds": 10})
    # Then it is stopped at the timeout, and the next invocation runs in a new process
    assert outcome.status == TIMED_OUT
    assert time.monotonic() - started < 5
    again = pool.invoke({"seconds": 0})
    assert again.status == OK
    assert again.payload["pid"] != pid
