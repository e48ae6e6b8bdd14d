"""Start the local stack as `make run` does (a process tree on free ports) and stop it, for tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_stack(workdir: Path, **env: str) -> Iterator[dict[str, Any]]:
    """Yields the stack's state (URLs, queue URLs, `process`, `output`: a file with all it printed,
    `log_file`: the functions' logs).

    Its pointer is `workdir/.local-stack.env` (state["env_file"]), never the checkout's, which belongs
    to the user's `make run`."""
    state_file, output = workdir / "state.json", workdir / "output.log"
    environment = {
        **os.environ,
        "PORT": "0",
        "SANDBOX_PORT": "0",
        "RETRY_BASE_SECONDS": "0",
        "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}",
        **env,
    }
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "local.stack", "--state-file", str(state_file)),
                *("--env-file", str(workdir / ".local-stack.env")),
                *("--log-file", str(workdir / "functions.log")),
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not (state_file.exists() and state_file.read_text()):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the stack did not start: {output.read_text()[-2000:]}")
                time.sleep(0.1)
            state: dict[str, Any] = json.loads(state_file.read_text())
            yield {**state, "process": process, "output": output}
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=30)
