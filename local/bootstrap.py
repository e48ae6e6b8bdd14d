"""One execution environment of a function, as Lambda's Python runtime runs it.

Loads the handler once (the init phase), then takes one invocation at a time from the Runtime API
at `AWS_LAMBDA_RUNTIME_API` (GET next, POST the response or the error), staying warm in between.
An unhandled exception is reported as the invocation's error and the process carries on, as on
Lambda; when the Runtime API goes away (the stack stopped), the process ends.

`python -m local.bootstrap <function name>`, started by local/runtime.py with `_HANDLER` set.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import sys
import time
import traceback
from typing import Any

from local.functions import Handler, LocalContext, import_handler

RUNTIME = "/2018-06-01/runtime"


def _error(error: BaseException) -> bytes:
    return json.dumps(
        {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "stackTrace": traceback.format_exception(error),
        }
    ).encode()


def _post(api: http.client.HTTPConnection, path: str, body: bytes) -> None:
    api.request("POST", f"{RUNTIME}{path}", body=body, headers={"Content-Type": "application/json"})
    api.getresponse().read()


def serve(api: http.client.HTTPConnection, handler: Handler) -> None:
    name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    memory = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    while True:
        api.request("GET", f"{RUNTIME}/invocation/next")
        answer = api.getresponse()
        event: Any = json.loads(answer.read())
        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline = int(answer.headers["Lambda-Runtime-Deadline-Ms"]) / 1000
        context = LocalContext(name, deadline - time.time(), memory, aws_request_id=request_id)
        try:
            response = json.dumps(handler(event, context)).encode()
        except Exception as error:
            traceback.print_exc()  # the function's log, as Lambda's runtime writes it
            _post(api, f"/invocation/{request_id}/error", _error(error))
            continue
        _post(api, f"/invocation/{request_id}/response", response)


def main() -> int:
    api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = import_handler(os.environ["_HANDLER"])
    except Exception as error:
        traceback.print_exc()
        with contextlib.suppress(OSError, http.client.HTTPException):
            _post(api, "/init/error", _error(error))
        return 1
    with contextlib.suppress(OSError, http.client.HTTPException, KeyboardInterrupt):
        serve(api, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
