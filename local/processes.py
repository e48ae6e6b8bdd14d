"""How the local stack's processes tell their parent they are ready: a file written once, whole."""

from __future__ import annotations

import os
import subprocess  # nosec B404 # only waits on processes this project started
import time
from pathlib import Path


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
