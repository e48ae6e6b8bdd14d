"""`make run`: the whole service on this machine, with nothing to configure.

A small supervisor of processes, each standing in for what runs it on AWS:

- local AWS, provisioned from template.yaml: SQS (local/sqs.py) in a process of its own, DynamoDB
  (moto) in another, Secrets Manager, EventBridge and CloudWatch Logs (moto, local/aws_server.py) in a
  third, which is also the one endpoint for all of them;
- the Intercom sandbox (local/sandbox_server.py; or the real Intercom with INTERCOM_TOKEN);
- a local API Gateway (local/gateway.py) in front of LOCAL_API_PROCESSES execution environments of
  each API function (4 by default);
- the SQS event source (local/poller.py), feeding LOCAL_WORKER_PROCESSES worker environments (by
  default the template's MaximumConcurrency);
- a subscriber to the event bus that prints each outcome event as it arrives (local/event_log.py).

A function process that dies is replaced by its gateway or poller, and messages it held come back
after their visibility timeout; a gateway or poller that dies is restarted here. Local AWS and the
sandbox hold the state: if one of them dies, the stack stops. Ctrl-C stops the whole tree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess  # nosec B404 # starts this project's own modules, fixed arguments
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from local import event_log
from local.aws import provision
from local.function_logs import INLINE_VARIABLE, LOG_FILE_VARIABLE
from local.functions import queue_consumer, resource_values
from local.processes import API_KEY_VARIABLE, SANDBOX_TOKEN_VARIABLE, announce_ready, wait_ready

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_PROCESSES = 4


@dataclass
class Child:
    """A process of the stack; `essential` ones hold state, so the stack cannot outlive them."""

    name: str
    argv: list[str]
    env: dict[str, str]
    essential: bool
    popen: subprocess.Popen[bytes] = field(init=False)

    def start(self) -> Child:
        # Started with Ctrl-C ignored, which their own children inherit: a terminal's Ctrl-C reaches
        # the whole process group at once, and functions dying before their pools know the stack is
        # stopping read as crashes. Only this supervisor takes it, and stops them in order.
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.popen = subprocess.Popen(  # nosec B603 # fixed argv, no shell
                [sys.executable, "-m", f"local.{self.name}", *self.argv], env=self.env
            )
        finally:
            signal.signal(signal.SIGINT, handler)
        return self

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()

    def wait_stopped(self) -> None:
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-file", type=Path, help="write the URLs and queue names here as JSON")
    parser.add_argument(
        "--env-file",
        type=Path,
        help="the pointer that make redrive, make import and make invoke follow (`make run`: the "
        "checkout's .local-stack.env); removed at the end if it still names this stack",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        help="every line the functions print, started afresh (default: a new file in the temp folder); "
        "the terminal shows their warnings and errors, or every line with LOCAL_LOGS=1",
    )
    args = parser.parse_args(argv)
    port = int(os.environ.get("PORT", "3000"))
    sandbox_port = int(os.environ.get("SANDBOX_PORT", "8111" if port else "0"))
    api_key = os.environ.pop(API_KEY_VARIABLE, "local-dev-key")  # only the gateway gets it
    _, source = queue_consumer()
    api_processes = int(os.environ.get("LOCAL_API_PROCESSES", DEFAULT_API_PROCESSES))
    worker_processes = int(
        os.environ.get("LOCAL_WORKER_PROCESSES", source["ScalingConfig"]["MaximumConcurrency"])
    )
    real_token = os.environ.pop("INTERCOM_TOKEN", None)  # kept in the local secret only, never printed

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scratch = Path(tempfile.mkdtemp(prefix="local-stack-"))
    log_file = (args.log_file or Path(tempfile.gettempdir()) / f"local-stack-{os.getpid()}.log").resolve()
    log_file.write_bytes(b"")
    base_env = {
        **os.environ,
        "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}",
        # An error answer publishes only its single metric; Powertools warns about the empty default set.
        "PYTHONWARNINGS": "ignore:No application metrics to publish",
        LOG_FILE_VARIABLE: str(log_file),
    }
    children: list[Child] = []
    exit_code = 0
    pointer = ""
    try:
        sqs = Child("sqs", ["--ready-file", str(scratch / "sqs")], base_env, essential=True)
        children.append(sqs.start())
        sqs_endpoint = f"http://127.0.0.1:{wait_ready(scratch / 'sqs', sqs.popen)}"
        dynamodb = Child("dynamodb", ["--ready-file", str(scratch / "dynamodb")], base_env, essential=True)
        children.append(dynamodb.start())
        dynamodb_endpoint = f"http://127.0.0.1:{wait_ready(scratch / 'dynamodb', dynamodb.popen)}"
        aws_server = Child(
            "aws_server",
            [
                *("--sqs-endpoint", sqs_endpoint, "--dynamodb-endpoint", dynamodb_endpoint),
                *("--ready-file", str(scratch / "aws")),
            ],
            base_env,
            essential=True,
        )
        children.append(aws_server.start())
        if real_token:
            token, base_url = real_token, None
        else:
            token = secrets.token_urlsafe(24)
            sandbox = Child(
                "sandbox_server",
                ["--port", str(sandbox_port), "--ready-file", str(scratch / "sandbox")],
                {**base_env, SANDBOX_TOKEN_VARIABLE: token},
                essential=True,
            )
            children.append(sandbox.start())
            base_url = wait_ready(scratch / "sandbox", sandbox.popen)
        endpoint = f"http://127.0.0.1:{wait_ready(scratch / 'aws', aws_server.popen)}"
        aws = provision(endpoint, token=token)
        event_log.follow(aws, event_log.subscribe(aws), stop)
        values = resource_values(aws, intercom_base_url=base_url)
        if os.environ.get("INTERCOM_REGION"):
            values["IntercomRegion"] = os.environ["INTERCOM_REGION"]
        resources = scratch / "resources.json"
        resources.write_text(json.dumps(values))

        function_env = {
            **base_env,
            **aws.env(),
            "AWS_ENDPOINT_URL_SQS": sqs_endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        }
        gateway = Child(
            "gateway",
            [
                *("--resources", str(resources), "--processes", str(api_processes)),
                *("--port", str(port), "--ready-file", str(scratch / "gateway")),
            ],
            {**function_env, API_KEY_VARIABLE: api_key},
            essential=False,
        )
        poller = Child(
            "poller",
            [
                *("--resources", str(resources), "--processes", str(worker_processes)),
                *("--ready-file", str(scratch / "poller")),
            ],
            function_env,
            essential=False,
        )
        children += [gateway.start(), poller.start()]
        api_port = wait_ready(scratch / "gateway", gateway.popen)
        wait_ready(scratch / "poller", poller.popen)
        gateway.argv[gateway.argv.index("--port") + 1] = api_port  # a restarted gateway keeps the address
        api_url = f"http://127.0.0.1:{api_port}"

        state = {
            "api_url": api_url,
            "api_key": api_key,
            "docs_url": f"{api_url}/docs",
            "sandbox_url": base_url,
            "aws_endpoint_url": endpoint,
            "queue_url": aws.queue_url,
            "dlq_url": aws.dlq_url,
            "table_name": aws.table_name,
            "run_log_table": aws.run_log_table,
            "event_bus": aws.event_bus,
            "secret_id": aws.secret_id,
            "api_processes": api_processes,
            "worker_processes": worker_processes,
            "env_file": str(args.env_file) if args.env_file else None,
            "log_file": str(log_file),
            "logs_inline": os.environ.get(INLINE_VARIABLE) == "1",
        }
        exported = {
            **{k: v for k, v in aws.env().items() if k.startswith("AWS_")},
            "CONTACTS_QUEUE_URL": aws.queue_url,
            "CONTACTS_DLQ_URL": aws.dlq_url,
            "IDEMPOTENCY_TABLE_NAME": aws.table_name,
            "RUN_LOG_TABLE_NAME": aws.run_log_table,
            "EVENT_BUS_NAME": aws.event_bus,
            "INTERCOM_TOKEN_SECRET_ID": aws.secret_id,
            "SANDBOX_URL": base_url or "",
            "API_URL": api_url,
            "API_KEY": api_key,
        }
        if args.env_file:
            pointer = f"# the local stack of process {os.getpid()}, up since {time.strftime('%H:%M:%S')}\n"
            pointer += "".join(f"{name} ?= {value}\n" for name, value in exported.items())
            announce_ready(args.env_file, pointer)  # whole: make may read it at any moment
        if args.state_file:
            args.state_file.write_text(json.dumps(state, indent=2))
        print(_banner(state, real_intercom=bool(real_token)), flush=True)

        while not stop.wait(0.5):
            exit_code = _supervise(children, stop)
    finally:
        stop.set()
        for child in reversed(children):  # the functions first: they may still be calling AWS
            child.stop()
        for child in reversed(children):
            child.wait_stopped()
        if args.env_file and pointer:
            with contextlib.suppress(FileNotFoundError):
                if args.env_file.read_text() == pointer:  # another stack may have taken it over since
                    args.env_file.unlink()
        shutil.rmtree(scratch, ignore_errors=True)
    return exit_code


def _supervise(children: list[Child], stop: threading.Event) -> int:
    """Restarts a gateway or poller that died; stops the stack when a process holding state died."""
    for child in children:
        code = child.popen.poll()
        if code is None or stop.is_set():
            continue
        if child.essential:
            print(
                f"{child.name} exited with {code}; its state is gone, stopping", file=sys.stderr, flush=True
            )
            stop.set()
            return 1
        print(f"{child.name} exited with {code}; starting it again", file=sys.stderr, flush=True)
        child.start()
    return 0


def _banner(state: Mapping[str, object], *, real_intercom: bool) -> str:
    api, key = state["api_url"], state["api_key"]
    intercom = "the real Intercom (INTERCOM_TOKEN)" if real_intercom else f"{state['sandbox_url']}/contacts"
    pointer = (
        f"  Pointer       {state['env_file']}: make redrive, make import and make invoke use this stack\n"
        if state["env_file"]
        else ""
    )
    logs = (
        "every function log line, shown here too (LOCAL_LOGS=1)"
        if state["logs_inline"]
        else "every function log line; here only warnings and errors, all of them with LOCAL_LOGS=1"
    )
    return f"""
Intercom Contacts is running locally. Ctrl-C stops it.

  API           {api}/contacts   (POST, header x-api-key: {key})
  Batch         {api}/contacts/batch   (POST; answers its batch_id)
  Run log       {api}/contacts/batch/<batch_id>   (GET; POST .../retry sends its failed items again)
  Events        {state["event_bus"]}: each outcome event is printed here as it arrives ("event  ...")
  Docs          {state["docs_url"]}   (OpenAPI: {api}/openapi.json)
  Intercom      {intercom}
  Queue         {state["queue_url"]}
  DLQ           {state["dlq_url"]}   (make redrive ARGS=--list)
{pointer}  Functions     {state["api_processes"]} API processes (LOCAL_API_PROCESSES), \
{state["worker_processes"]} worker processes (LOCAL_WORKER_PROCESSES)
  Logs          {state["log_file"]}   ({logs})
  Import        {Path(sys.executable).parent / "intercom-contacts"} import FILE   (or make import FILE=...)

Create a contact:
  curl -s -X POST "{api}/contacts" -H "x-api-key: {key}" -H "content-type: application/json" \\
    -d '{{"role":"user","email":"jane@example.com","name":"Jane"}}'
Queue two, then look the batch up by the batch_id it answers:
  curl -s -X POST "{api}/contacts/batch" -H "x-api-key: {key}" -H "content-type: application/json" \\
    -d '{{"contacts":[{{"role":"lead","email":"a@example.com"}},{{"role":"lead","email":"b@example.com"}}]}}'
  curl -s "{api}/contacts/batch/<batch_id>" -H "x-api-key: {key}"
"""


if __name__ == "__main__":
    sys.exit(main())
