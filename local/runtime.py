"""Lambda's execution environments on this machine: function processes that take one invocation at a
time, stay warm between invocations, and are replaced when they die or overrun the function's timeout.

Each process runs local/bootstrap.py against a Runtime API of its own, served here on a loopback
port: the interface Lambda's runtimes poll (GET the next invocation, POST its response or error).
A `FunctionPool` holds as many environments as the function may run at once; an invocation waits
for an idle one. What an invocation ended with is an `Outcome`: the function's answer, its error,
or the death of its process (killed, crashed, or stopped at the timeout). An invocation that an
environment never took (its process died first) is handed to the replacement, as Lambda never
gives an event to an environment that is gone.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess  # nosec B404 # starts this project's own bootstrap, fixed arguments
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from local.function_logs import FunctionLogs
from local.functions import LocalFunction
from local.processes import QuietServer

RUNTIME = "/2018-06-01/runtime"
INIT_TIMEOUT_SECONDS = 30  # Lambda allows 10 s; here several environments import at once on few cores
INIT_RETRY_SECONDS = 1  # a process that dies before its first invocation is not restarted in a tight loop
OK, FUNCTION_ERROR, CRASHED, TIMED_OUT = "ok", "function error", "crashed", "timed out"

log = logging.getLogger("local.runtime")


@dataclass(frozen=True)
class Outcome:
    """How an invocation ended; `payload` is the function's answer, or its error report."""

    status: str
    payload: Any = None
    delivered: bool = True

    @property
    def ok(self) -> bool:
        return self.status == OK


Invoke = Callable[[dict[str, Any]], Outcome]


class Invocation:
    def __init__(self, event: bytes, timeout: float) -> None:
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.timeout = timeout
        self.delivered = False
        self.started = threading.Event()  # the process took it, or died before it could
        self.finished = threading.Event()
        self.outcome: Outcome | None = None
        self._lock = threading.Lock()

    def deliver(self) -> int:
        """Marks the invocation taken; returns its deadline, in epoch milliseconds."""
        self.delivered = True
        self.started.set()
        return int((time.time() + self.timeout) * 1000)

    def finish(self, outcome: Outcome) -> None:
        """The first outcome stands: a timeout is not turned into a crash by the kill that follows it."""
        with self._lock:
            if self.outcome is None:
                self.outcome = outcome
        self.started.set()
        self.finished.set()


class _Process:
    """One function process and the Runtime API that only it polls."""

    def __init__(
        self,
        function: LocalFunction,
        environment: Mapping[str, str],
        logs: FunctionLogs,
        on_exit: Callable[[_Process], None],
    ) -> None:
        self.function = function
        self.ready = threading.Event()  # it asked for its first invocation: the init phase is over
        self.exited = False
        self.died_in_flight = False
        self.invocation: Invocation | None = None
        self._inbox: queue.Queue[Invocation | None] = queue.Queue()
        self._lock = threading.Lock()
        self.api = QuietServer(("127.0.0.1", 0), type("Api", (_RuntimeApi,), {"process": self}))
        threading.Thread(
            target=self.api.serve_forever, name=f"runtime-api-{function.logical_id}", daemon=True
        ).start()
        self.popen = subprocess.Popen(  # nosec B603 # fixed argv, no shell
            [sys.executable, "-m", "local.bootstrap", function.logical_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={
                **environment,
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.api.server_address[1]}",
                "_HANDLER": function.handler_path,
                "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "PYTHONUNBUFFERED": "1",  # each log line leaves at once, even from a process killed next
            },
        )
        threading.Thread(
            target=logs.relay,
            args=(function.logical_id, self.popen.stdout),
            name=f"logs-{function.logical_id}",
            daemon=True,
        ).start()
        threading.Thread(target=self._watch, args=(on_exit,), name="runtime-watch", daemon=True).start()

    def invoke(self, invocation: Invocation) -> None:
        with self._lock:
            if self.exited:
                invocation.finish(Outcome(CRASHED, delivered=False))
                return
            self.invocation = invocation
            self._inbox.put(invocation)

    def next_invocation(self) -> Invocation | None:
        """Waits for the invocation to hand to the process; None once the process has exited."""
        self.ready.set()
        return self._inbox.get()

    def answer(self, request_id: str, outcome: Outcome) -> None:
        invocation = self.invocation
        if invocation is not None and invocation.request_id == request_id:
            invocation.finish(outcome)

    def kill(self) -> None:
        self.popen.kill()

    def terminate(self) -> None:
        self.popen.terminate()

    def _watch(self, on_exit: Callable[[_Process], None]) -> None:
        self.popen.wait()
        with self._lock:
            self.exited = True
            invocation = self.invocation
        self._inbox.put(None)  # releases a GET still waiting for an invocation
        if invocation is not None and not invocation.finished.is_set():
            self.died_in_flight = invocation.delivered
            invocation.finish(Outcome(CRASHED, delivered=invocation.delivered))
        self.api.shutdown()
        self.api.server_close()
        on_exit(self)


class _RuntimeApi(BaseHTTPRequestHandler):
    process: _Process
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per invocation would drown the functions' own logs."""

    def do_GET(self) -> None:
        if self.path != f"{RUNTIME}/invocation/next":
            self._reply(404, b'{"errorMessage": "not a Runtime API path"}')
            return
        invocation = self.process.next_invocation()
        if invocation is None:  # the process is gone: nobody to answer
            self.close_connection = True
            return
        deadline_ms = invocation.deliver()
        arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.process.function.logical_id}"
        self._reply(
            200,
            invocation.event,
            {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
            },
        )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(f"{RUNTIME}/").split("/")
        if parts[0] == "invocation" and len(parts) == 3 and parts[2] in {"response", "error"}:
            status = OK if parts[2] == "response" else FUNCTION_ERROR
            self.process.answer(parts[1], Outcome(status, json.loads(body or b"null")))
        elif parts != ["init", "error"]:
            self._reply(404, b'{"errorMessage": "not a Runtime API path"}')
            return
        self._reply(202, b'{"status": "OK"}')

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Environment:
    """One execution environment: it runs a function process, and starts another when that one ends."""

    def __init__(
        self, function: LocalFunction, environment: Mapping[str, str], number: int, logs: FunctionLogs
    ) -> None:
        self.function = function
        self.number = number
        self._environment = dict(environment)
        self._logs = logs
        self._changed = threading.Condition()
        self._stopping = False
        self.process = _Process(function, self._environment, logs, self._exited)

    @property
    def pid(self) -> int:
        return self.process.popen.pid

    def wait_ready(self, timeout: float) -> bool:
        return self.process.ready.wait(timeout)

    def invoke(self, event: bytes) -> Outcome:
        outcome = Outcome(CRASHED, delivered=False)
        for _ in range(3):
            with self._changed:
                self._changed.wait_for(lambda: self._stopping or not self.process.exited)
                process = self.process
            outcome = self._invoke(process, event)
            if outcome.delivered:
                break
        return outcome

    def _invoke(self, process: _Process, event: bytes) -> Outcome:
        invocation = Invocation(event, self.function.timeout)
        process.invoke(invocation)
        if not invocation.started.wait(INIT_TIMEOUT_SECONDS):
            invocation.finish(Outcome(TIMED_OUT, delivered=False))
            process.kill()
        elif not invocation.finished.wait(self.function.timeout):
            invocation.finish(Outcome(TIMED_OUT))
            process.kill()  # Lambda ends an invocation at its timeout by ending its environment
        return cast(Outcome, invocation.outcome)  # set: `finished` is only ever set with an outcome

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self.process.terminate()

    def wait_stopped(self, timeout: float) -> None:
        try:
            self.process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def _exited(self, process: _Process) -> None:
        code = process.popen.returncode
        if self._stopping:
            return
        during = " during an invocation" if process.died_in_flight else ""
        log.warning(
            "%s environment %d: process %d exited with %s%s; starting another",
            self.function.logical_id,
            self.number,
            process.popen.pid,
            code,
            during,
        )
        if not process.ready.is_set():
            time.sleep(INIT_RETRY_SECONDS)
        with self._changed:
            if self._stopping:
                return
            self.process = _Process(self.function, self._environment, self._logs, self._exited)
            self._changed.notify_all()


class FunctionPool:
    """A function's concurrency: `size` environments, an invocation taking whichever is idle."""

    def __init__(
        self,
        function: LocalFunction,
        size: int,
        environment: Mapping[str, str],
        logs: FunctionLogs | None = None,
    ) -> None:
        """`logs`: where the processes' output goes (by default as `LOCAL_LOG_FILE`, `LOCAL_LOGS` say)."""
        self.function = function
        logs = logs or FunctionLogs.from_environment()
        self.environments = [Environment(function, environment, number, logs) for number in range(size)]
        self._idle: queue.Queue[Environment] = queue.Queue()
        for environment_ in self.environments:
            self._idle.put(environment_)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for environment in self.environments:
            if not environment.wait_ready(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{self.function.logical_id} did not finish its init in {timeout} s")

    def invoke(self, event: dict[str, Any]) -> Outcome:
        environment = self._idle.get()
        try:
            return environment.invoke(json.dumps(event).encode())
        finally:
            self._idle.put(environment)

    def stop(self) -> None:
        for environment in self.environments:
            environment.stop()
        for environment in self.environments:
            environment.wait_stopped(timeout=10)


def in_process(function: LocalFunction) -> Invoke:
    """The function's handler called in this process: for tests that need no environment of its own."""
    handler = function.load_handler()

    def invoke(event: dict[str, Any]) -> Outcome:
        try:
            return Outcome(OK, handler(event, function.context()))
        except Exception as error:
            log.exception("%s failed", function.logical_id)
            return Outcome(FUNCTION_ERROR, {"errorMessage": str(error), "errorType": type(error).__name__})

    return invoke
