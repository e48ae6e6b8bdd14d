"""What the local stack's processes share: how they tell their parent they are ready (a file written
once, whole), and the threaded HTTP server they answer with."""

from __future__ import annotations

import os
import subprocess  # nosec B404 # only waits on processes this project started
import sys
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

LISTEN_BACKLOG = 128  # http.server's default of 5 resets connections when a few dozen clients connect at once


class QuietServer(ThreadingHTTPServer):
    """A threaded HTTP server with room for many clients connecting at once, that takes a peer hanging
    up as part of life, not as an error to print."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exception(), ConnectionError):
            super().handle_error(request, client_address)


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
