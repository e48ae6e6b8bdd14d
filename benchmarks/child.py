"""What runs inside a fresh process for the benchmark: a cold start, or a warm loop.

    python -m benchmarks.child cold <code dir> <module>      -> prints the first answer's status
    python -m benchmarks.child warm <code dir> <pairs> <total> -> prints JSON timings and memory
    python -m benchmarks.child restored <code dir> <runs>     -> prints JSON timings

The code dir goes first on sys.path, as /var/task does on Lambda; boto3 comes from the interpreter's
own site-packages, as the runtime provides it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any


def _event(n: int) -> dict[str, Any]:
    body = json.dumps({"role": "lead", "email": f"bench-{uuid.uuid4().hex[:12]}-{n}@example.com"})
    return {
        "resource": "/contacts",
        "path": "/contacts",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "v1",
            "resourcePath": "/contacts",
            "httpMethod": "POST",
        },
        "body": body,
        "isBase64Encoded": False,
    }


class _Context:
    function_name = "CreateContactFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CreateContactFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process. Not getrusage's maxrss: Linux carries that over
    from the parent across exec, so a child of a big process reports the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cold(code_dir: str, module: str) -> None:
    sys.path.insert(0, code_dir)
    handler = __import__(module, fromlist=["lambda_handler"]).lambda_handler
    answer = handler(_event(0), _Context())
    print(f"ANSWERED {answer['statusCode']}", flush=True)  # the parent stops its clock here


def warm(code_dir: str, pairs: int, total: int) -> None:
    sys.path.insert(0, code_dir)
    import urllib3

    from intercom_contacts import services
    from intercom_contacts.handlers import api

    handler = api.lambda_handler
    reads: list[int] = []
    services.secrets_provider().client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append(1)
    )
    handler(_event(0), _Context())  # the cold start is not part of the warm figures
    bare = urllib3.PoolManager()
    url = os.environ["INTERCOM_BASE_URL"] + "/contacts"
    headers = {"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}", "Accept": "application/json"}
    overheads = []
    for n in range(pairs):
        event = _event(n)
        started = time.perf_counter()
        status = handler(event, _Context())["statusCode"]
        handled = time.perf_counter() - started
        started = time.perf_counter()
        bare.request("POST", url, body=_event(n)["body"], headers=headers)
        direct = time.perf_counter() - started
        assert status == 201, status
        overheads.append((handled - direct) * 1000)
    rss_at_1000 = _status_mb("VmRSS")
    for n in range(pairs, total):
        handler(_event(n), _Context())
    print(
        json.dumps(
            {
                "overhead_ms": overheads,
                "rss_mb_after_pairs": rss_at_1000,
                "rss_mb_after_total": _status_mb("VmRSS"),
                "peak_rss_mb": _status_mb("VmHWM"),
                "secret_reads": len(reads),
                "requests": total,
            }
        )
    )


def restored(code_dir: str, runs: int) -> None:
    """SnapStart's share of a cold start that can be measured here: what a restored environment still
    does before its first answer. This process imports the handler and runs the before-snapshot hooks
    once, as Lambda does when it publishes a version; each run forks it (the restore) and times, from
    the fork, the after-restore hooks and the first request. Lambda's own restore is not included."""
    sys.path.insert(0, code_dir)
    import snapshot_restore_py  # in Lambda's runtime, so in the benchmark's runtime venv too

    from intercom_contacts.handlers import api

    for func, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        func(*args, **kwargs)
    timings = []
    for n in range(runs):
        read, write = os.pipe()
        started = time.perf_counter()
        if os.fork() == 0:  # the restored environment
            for func, args, kwargs in snapshot_restore_py.get_after_restore():
                func(*args, **kwargs)
            status = api.lambda_handler(_event(n), _Context())["statusCode"]
            os.write(write, json.dumps([status, (time.perf_counter() - started) * 1000]).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as answer:
            status, elapsed = json.loads(answer.read())
        os.wait()
        assert status == 201, status
        timings.append(elapsed)
    print(json.dumps({"restored_ms": timings}))


if __name__ == "__main__":
    if sys.argv[1] == "cold":
        cold(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "restored":
        restored(sys.argv[2], int(sys.argv[3]))
    else:
        warm(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
