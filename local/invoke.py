"""`make invoke FUNCTION=<logical id> EVENT=events/<file>.json`: one function, once, as `sam local invoke`
would: the template's handler and environment, the response printed, the logs on stderr.

Against the stack that `.local-stack.env` names (the one `make run` writes at the checkout's root,
looked up from the current directory upwards); otherwise against a moto and an Intercom sandbox
started for this one invocation. Which one it is goes to stderr first.
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

ENV_FILE = ".local-stack.env"


def _running_stack(directory: Path) -> tuple[Path, dict[str, str]] | None:
    """The pointer nearest to `directory` and what it holds; None when there is none."""
    for folder in (directory, *directory.parents):
        if (path := folder / ENV_FILE).is_file():
            pairs = (line.split(" ?= ", 1) for line in path.read_text().splitlines() if " ?= " in line)
            return path, dict(pairs)
    return None


@contextlib.contextmanager
def _resources() -> Iterator[dict[str, str]]:
    """Environment values for the template's Refs, from the running stack or a throwaway one."""
    found = _running_stack(Path.cwd())
    if found:
        path, running = found
        print(f"invoke: the local stack at {running['API_URL']} ({path})", file=sys.stderr, flush=True)
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
    print(
        f"invoke: no {ENV_FILE} here (start the stack with make run to use it): "
        "a throwaway moto and Intercom sandbox for this one invocation",
        file=sys.stderr,
        flush=True,
    )
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
