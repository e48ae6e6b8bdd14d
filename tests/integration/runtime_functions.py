"""Functions for the execution-environment tests: each answers which process ran it; some misbehave."""

from __future__ import annotations

import os
import time
from typing import Any

invocations = 0  # module state: what a warm environment keeps between invocations


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global invocations  # noqa: PLW0603 # the point: state that lives as long as the process
    invocations += 1
    return {
        "pid": os.getpid(),
        "invocations": invocations,
        "event": event,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def sleep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(event["seconds"])
    return {"pid": os.getpid()}


def fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise ValueError("the function failed")
