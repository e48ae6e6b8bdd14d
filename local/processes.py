"""What the local stack's processes share: how they tell their parent they are ready (a file written
once, whole), the threaded HTTP server they answer with, the handler of the AWS calls they answer,
and how a server process runs until it is told to stop."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404 # only waits on processes this project started
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

# Secrets reach a process in these variables, never in its argv: `ps` shows a command line to every
# user, and a value starting with "-" would be read as an option.
API_KEY_VARIABLE = "LOCAL_API_KEY"
SANDBOX_TOKEN_VARIABLE = "INTERCOM_SANDBOX_TOKEN"  # noqa: S105  # nosec B105 # a variable name, not a secret
LISTEN_BACKLOG = 128  # http.server's default of 5 resets connections when a few dozen clients connect at once


class QuietServer(ThreadingHTTPServer):
    """A threaded HTTP server with room for many clients connecting at once, that takes a peer hanging
    up as part of life, not as an error to print."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exception(), ConnectionError):
            super().handle_error(request, client_address)


class AwsCallHandler(BaseHTTPRequestHandler):
    """Answers each POST with `answer(body)`: an AWS call over a kept-alive connection, quietly."""

    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    disable_nagle_algorithm = True  # otherwise keep-alive adds ~40 ms per request

    def answer(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, payload) for the call in `body`; `self.headers` and `self.path` hold the rest."""
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per call would drown the functions' logs."""

    def do_POST(self) -> None:
        status, headers, payload = self.answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(Protocol):
    server_address: Any

    def serve_forever(self) -> None: ...
    def shutdown(self) -> None: ...


def serve_until_stopped(server: _Server, ready_file: Path | None) -> None:
    """Serve until SIGTERM or SIGINT, after announcing the port at `ready_file` (if given)."""
    on_stop_signal(lambda: threading.Thread(target=server.shutdown).start())
    if ready_file:
        announce_ready(ready_file, str(server.server_address[1]))
    server.serve_forever()


def on_stop_signal(stop: Callable[[], None]) -> None:
    """Call `stop` on SIGTERM, and on Ctrl-C (SIGINT) unless it is ignored: the stack starts its
    processes so, and stops them itself, in order, when it gets the Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda *_: stop())
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, lambda *_: stop())


def announce_ready(path: Path, text: str) -> None:
    """Write `text` to `path` in one step, so a reader never sees half of it."""
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)


def wait_ready(path: Path, process: subprocess.Popen[bytes], timeout: float = 120) -> str:
    """What the process announced at `path`; raises if it exits or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before it was ready")
        time.sleep(0.05)
    raise TimeoutError(f"{process.args!r} was not ready after {timeout} s")
