"""Where the function processes' output goes: every line to the log file the stack names
(`LOCAL_LOG_FILE`), and to the terminal one short line per warning or error; `LOCAL_LOGS=1` shows
every line there too.

The functions log JSON (Powertools' Logger) and write a metrics line (EMF) per invocation: on a
terminal that is nearly all of what a running stack prints, and hides the outcome events and the
errors a person is watching for. The file keeps all of it, as CloudWatch Logs would.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import BinaryIO, TextIO

LOG_FILE_VARIABLE = "LOCAL_LOG_FILE"
INLINE_VARIABLE = "LOCAL_LOGS"
SHOWN_LEVELS = {"WARNING", "ERROR", "CRITICAL"}


class FunctionLogs:
    def __init__(self, path: Path | None, *, inline: bool, terminal: TextIO | None = None) -> None:
        """`path` None: no file, every line goes to the terminal (tests running functions directly)."""
        self._file = path.open("ab") if path else None  # appended: the gateway and the poller share it
        self._inline = inline or path is None
        self._terminal = terminal or sys.stdout
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> FunctionLogs:
        path = os.environ.get(LOG_FILE_VARIABLE)
        return cls(Path(path) if path else None, inline=os.environ.get(INLINE_VARIABLE) == "1")

    def relay(self, function: str, stream: BinaryIO) -> None:
        """Every line of `stream` (a function process's stdout and stderr), until it ends."""
        with stream:
            for line in stream:
                self.write(function, line)

    def write(self, function: str, line: bytes) -> None:
        shown = line.decode(errors="replace") if self._inline else summary(function, line)
        with self._lock:
            if self._file:
                self._file.write(line)  # one write per line: whole lines, whoever else appends
                self._file.flush()
            if shown:
                self._terminal.write(shown if shown.endswith("\n") else f"{shown}\n")
                self._terminal.flush()


def summary(function: str, line: bytes) -> str | None:
    """The terminal's line for a log line: `error   Function  message  CODE`; None for any other."""
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a traceback or a print: the file has it, and the failure it belongs to is reported
    if not isinstance(record, dict) or record.get("level") not in SHOWN_LEVELS:
        return None
    detail = [str(record[key]) for key in ("code", "exception_name") if record.get(key)]
    return "  ".join([f"{record['level'].lower():<7} {function}", str(record.get("message")), *detail])
