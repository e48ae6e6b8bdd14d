"""`make invoke FUNCTION=<logical id> EVENT=events/<file>.json`: one function, once, as `sam local invoke`
would: the template's handler and environment, the response printed, the logs on stderr.

Against the running `make run` stack when `.local-stack.env` exists; otherwise against a moto and an
Intercom sandbox started for this one invocation.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from local.aws import LocalAws, local_moto, provision
from local.functions import load_function, resource_values
from local.intercom_sandbox import IntercomSandbox

ENV_FILE = Path(__file__).resolve().parent.parent / ".local-stack.env"


def _running_stack() -> dict[str, str] | None:
    if not ENV_FILE.exists():
        return None
    pairs = (line.split(" ?= ", 1) for line in ENV_FILE.read_text().splitlines() if " ?= " in line)
    return dict(pairs)


@contextlib.contextmanager
def _resources() -> Iterator[dict[str, str]]:
    """Environment values for the template's Refs, from the running stack or a throwaway one."""
    running = _running_stack()
    if running:
        os.environ.update({k: v for k, v in running.items() if k.startswith("AWS_")})
        aws = LocalAws(
            running["AWS_ENDPOINT_URL"],
            running["INTERCOM_TOKEN_SECRET_ID"],
            running["CONTACTS_QUEUE_URL"],
            running["CONTACTS_DLQ_URL"],
            running["IDEMPOTENCY_TABLE_NAME"],
            running["RUN_LOG_TABLE_NAME"],
            running["EVENT_BUS_NAME"],
        )
        yield resource_values(aws, intercom_base_url=running.get("SANDBOX_URL") or None)
        return
    token = secrets.token_urlsafe(24)
    with local_moto() as endpoint, IntercomSandbox(token=token) as sandbox:
        aws = provision(endpoint, token=token)
        os.environ.update(aws.env())
        yield resource_values(aws, intercom_base_url=sandbox.url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("function", help="logical id in template.yaml, e.g. CreateContactFunction")
    parser.add_argument("event", type=Path, help="an event file, e.g. events/api_create_user.json")
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text())
    with _resources() as values:
        function = load_function(args.function, values)
        os.environ.update(function.environment)
        stdout = sys.stdout
        try:
            with contextlib.redirect_stdout(
                sys.stderr
            ):  # the function's logs, as sam local invoke shows them
                response = function.load_handler()(event, function.context())
        except Exception:
            traceback.print_exc()
            return 1
        print(json.dumps(response, indent=2), file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
