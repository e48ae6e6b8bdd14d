"""`make run`: the whole service on this machine, with nothing to configure.

moto (SQS, DynamoDB, Secrets Manager, provisioned from template.yaml), the Intercom sandbox (or the
real Intercom with INTERCOM_TOKEN), the API function behind a local API Gateway, and the worker fed
by a poller, each function in its own process as Lambda runs it. Ctrl-C stops the whole tree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess  # nosec B404 # starts this project's own modules, fixed arguments
import sys
import tempfile
import threading
import time
from pathlib import Path

from local.aws import provision, start_moto
from local.functions import api_routes, load_function, queue_consumer, resource_values
from local.intercom_sandbox import IntercomSandbox

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = REPO_ROOT / ".local-stack.env"


def _wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text().strip()):
            return text
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} before it was ready")
        time.sleep(0.05)
    raise TimeoutError(f"{process.args} was not ready after {timeout} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-file", type=Path, help="write the URLs and queue names here as JSON")
    args = parser.parse_args(argv)
    port = int(os.environ.get("PORT", "3000"))
    sandbox_port = int(os.environ.get("SANDBOX_PORT", "8111" if port else "0"))
    api_key = os.environ.get("LOCAL_API_KEY", "local-dev-key")
    real_token = os.environ.pop("INTERCOM_TOKEN", None)  # kept in the local secret only, never printed

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    children: list[subprocess.Popen[bytes]] = []
    moto, endpoint = start_moto()
    sandbox = None
    try:
        if real_token:
            token, base_url = real_token, None
        else:
            token = secrets.token_urlsafe(24)
            sandbox = IntercomSandbox(token=token, port=sandbox_port, open_reads=True).start()
            base_url = sandbox.url
        aws = provision(endpoint, token=token)
        values = resource_values(aws, intercom_base_url=base_url)
        if os.environ.get("INTERCOM_REGION"):
            values["IntercomRegion"] = os.environ["INTERCOM_REGION"]
        base_env = {
            **os.environ,
            **aws.env(),
            "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}",
            # An error answer publishes only its single metric; Powertools warns about the empty default set.
            "PYTHONWARNINGS": "ignore:No application metrics to publish",
        }

        ready = Path(tempfile.mkdtemp()) / "gateway-port"
        [api_function_id] = set(api_routes().values())
        api_function = load_function(api_function_id, values)
        children.append(
            subprocess.Popen(  # nosec B603 # fixed argv, no shell
                [
                    sys.executable,
                    "-m",
                    "local.gateway",
                    "--function",
                    api_function_id,
                    "--port",
                    str(port),
                    "--api-key",
                    api_key,
                    "--ready-file",
                    str(ready),
                ],
                env={**base_env, **api_function.environment},
            )
        )
        api_url = f"http://127.0.0.1:{_wait_for(ready, children[0])}"
        worker_id, _ = queue_consumer()
        worker = load_function(worker_id, values)
        children.append(
            subprocess.Popen(  # nosec B603 # fixed argv, no shell
                [sys.executable, "-m", "local.poller", "--function", worker_id],
                env={**base_env, **worker.environment},
            )
        )

        state = {
            "api_url": api_url,
            "api_key": api_key,
            "docs_url": f"{api_url}/docs",
            "sandbox_url": base_url if sandbox else None,
            "aws_endpoint_url": endpoint,
            "queue_url": aws.queue_url,
            "dlq_url": aws.dlq_url,
            "table_name": aws.table_name,
            "secret_id": aws.secret_id,
        }
        exported = {
            **{k: v for k, v in aws.env().items() if k.startswith("AWS_")},
            "CONTACTS_QUEUE_URL": aws.queue_url,
            "CONTACTS_DLQ_URL": aws.dlq_url,
            "IDEMPOTENCY_TABLE_NAME": aws.table_name,
            "INTERCOM_TOKEN_SECRET_ID": aws.secret_id,
            "SANDBOX_URL": base_url or "",
            "API_URL": api_url,
        }
        ENV_FILE.write_text("".join(f"{name} ?= {value}\n" for name, value in exported.items()))
        if args.state_file:
            args.state_file.write_text(json.dumps(state, indent=2))
        print(_banner(state, real_intercom=bool(real_token)), flush=True)

        while not stop.wait(0.5):
            for child in children:
                if child.poll() is not None:
                    print(f"{child.args[2]} exited with {child.returncode}; stopping", file=sys.stderr)
                    stop.set()
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if sandbox:
            sandbox.stop()
        moto.stop()
        with contextlib.suppress(FileNotFoundError):
            ENV_FILE.unlink()
    return 0


def _banner(state: dict[str, str | None], *, real_intercom: bool) -> str:
    api, key = state["api_url"], state["api_key"]
    intercom = "the real Intercom (INTERCOM_TOKEN)" if real_intercom else f"{state['sandbox_url']}/contacts"
    return f"""
Intercom Contacts is running locally. Ctrl-C stops it.

  API           {api}/contacts   (POST, header x-api-key: {key})
  Batch         {api}/contacts/batch
  Docs          {state["docs_url"]}   (OpenAPI: {api}/openapi.json)
  Intercom      {intercom}
  Queue         {state["queue_url"]}
  DLQ           {state["dlq_url"]}   (make redrive ARGS=--list)

Create a contact:
  curl -s -X POST "{api}/contacts" -H "x-api-key: {key}" -H "content-type: application/json" \\
    -d '{{"role":"user","email":"jane@example.com","name":"Jane"}}'
"""


if __name__ == "__main__":
    sys.exit(main())
