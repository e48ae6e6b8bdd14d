"""The fleet section of `make bench`: worker containers draining one queue at Intercom's rate limit.

Every container is its own process (`benchmarks/fleet_container.py`) running the worker's handler with
its thread pool, fed from moto's SQS as Lambda's event source mapping feeds it; moto runs as its own
process too (`python -m moto.server`); all of them call one Intercom sandbox whose rate limit, in
10-second windows with Intercom's headers, is shared by every caller. An API container signs users up
through `POST /contacts` at a steady rate meanwhile. For each containers x limit it reports:

- the steady creation rate against the limit (contacts created a second, in the windows fully inside
  the drain, over the limit; the API's sign-ups count, they are contacts too), and the whole drain's;
- the share of Intercom calls answered 429, over the whole run;
- contacts lost and duplicated (leads, which Intercom does not deduplicate), and the DLQ;
- the API's p99 latency during the drain, against its p99 with the workers idle (same run), its 429s;
- what 1,000 contacts cost on AWS, from the measured invocation durations and calls.

    python -m benchmarks.fleet                  # the matrix (as make bench runs it)
    python -m benchmarks.fleet --quick          # three configurations
    python -m benchmarks.fleet --compare        # the pacing candidates against each other
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

from local.aws import client, provision
from local.functions import load_function, resource_values
from local.intercom_sandbox import IntercomSandbox, RecordedRequest

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
WINDOW = 10  # seconds: Intercom's rate-limit window
TOKEN = "fleet-bench-token"  # the sandbox's, not a secret
MEMORY_GB = 256 / 1024  # the template's MemorySize default
API_LOAD = 0.4  # the API signs users up at this fraction of its share of the limit
DRAIN_SECONDS = 60  # how long each drain lasts at the limit: four full windows in the middle

# AWS public list prices, us-east-1, as published in January 2025 (DynamoDB on demand after its
# November 2024 cut); free tiers ignored. Prices change: check each service's pricing page.
PRICES_AS_OF = "AWS list prices, us-east-1, as published January 2025; free tiers ignored"
LAMBDA_GB_SECOND_ARM64 = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
SQS_REQUEST = 0.40 / 1e6  # standard queue, per 64 KB chunk
DYNAMODB_WRITE_UNIT = 0.625 / 1e6  # on-demand, per 1 KB written (price since November 2024)
DYNAMODB_READ_UNIT = 0.125 / 1e6  # on-demand, per 4 KB read strongly consistent
SECRETS_MANAGER_CALL = 0.05 / 10_000
EVENTBRIDGE_EVENT = 1.00 / 1e6  # custom events, per 64 KB chunk
CLOUDWATCH_LOGS_GB = 0.50  # ingestion
SECRET_CACHE_SECONDS = 300  # one GetSecretValue per container per 300 s


class TimedSandbox(IntercomSandbox):
    """The sandbox, with the time each request was answered: calls and 429s per window."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.times: list[float] = []
        self.created = 0

    def _record(self, request: RecordedRequest) -> None:
        self.times.append(time.time())
        if request.status == 200 and request.method == "POST" and request.path == "/contacts":
            self.created += 1
        super()._record(request)

    def timed(self) -> list[tuple[float, RecordedRequest]]:
        with self._requests_lock:
            return list(zip(self.times, self.requests, strict=True))

    def reset(self) -> None:
        with self._requests_lock:
            self.times.clear()
            self.created = 0
        super().reset()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto's server in a process of its own (no GIL shared with the sandbox), via benchmarks.moto_server."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    http = urllib3.PoolManager(retries=False, timeout=1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            http.request("GET", f"{endpoint}/moto-api/")
            return process, endpoint
        except urllib3.exceptions.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("moto did not start")


@dataclass
class Stack:
    moto: subprocess.Popen[bytes]
    endpoint: str
    sandbox: TimedSandbox
    scratch: Path

    def stop(self) -> None:
        self.sandbox.stop()
        self.moto.terminate()
        self.moto.wait(timeout=10)


def start_stack(scratch: Path) -> Stack:
    moto, endpoint = start_moto()
    return Stack(moto, endpoint, TimedSandbox(token=TOKEN).start(), scratch)


def _lead(n: int, run: str) -> str:
    return json.dumps({"role": "lead", "email": f"{run}-{n}@fleet.example", "name": f"Lead {n}"})


def _feed(sqs: Any, queue_url: str, count: int, run: str, sandbox: TimedSandbox, *, ahead: int) -> None:
    """Queue `count` leads as any producer would (plain bodies, no batch attributes), keeping the
    backlog `ahead` messages in front of the creations: enough that every container always receives
    full batches, and no deeper, because moto (unlike SQS) spends time in proportion to the backlog
    on every message it sends and receives."""
    fed = 0
    while fed < count:
        if fed - sandbox.created >= ahead:
            time.sleep(0.05)
            continue
        entries = [{"Id": str(n), "MessageBody": _lead(n, run)} for n in range(fed, min(fed + 10, count))]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"SQS refused {answer['Failed']}")
        fed += len(entries)


def _container(role: str, out: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fleet_container", role, "--out", str(out), *extra],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else math.nan


def run_config(
    stack: Stack,
    *,
    containers: int,
    limit: float,
    role: str = "worker",
    pacing: str = "paced",
    fleet_size: int | None = None,
    contacts: int | None = None,
    api: bool = True,
    api_baseline_seconds: float = 0.0,
) -> dict[str, Any]:
    """One drain: `containers` workers, Intercom allowing `limit` calls a second in 10 s windows.
    With `role="client"` the containers run only the worker's Intercom client, for DRAIN_SECONDS."""
    sandbox = stack.sandbox
    sandbox.reset()
    sandbox.set_rate_limit(round(limit * WINDOW), WINDOW)
    run = f"r{uuid.uuid4().hex[:8]}"
    aws = provision(stack.endpoint, token=TOKEN, prefix=run)
    values = resource_values(aws, intercom_base_url=sandbox.url)
    base = {
        **os.environ,
        **aws.env(),
        "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
        "PYTHONWARNINGS": "ignore:No application metrics to publish",
    }
    worker_env = {**base, **load_function("ContactWorkerFunction", values).environment}
    api_env = {**base, **load_function("CreateContactFunction", values).environment}
    share = float(worker_env.get("API_RATE_LIMIT_SHARE") or 0) / 100
    count = contacts or max(200, round(limit * DRAIN_SECONDS * 0.93))
    api_rate = API_LOAD * share * limit if api and share else 0.0
    folder = stack.scratch / run
    folder.mkdir()
    outputs = [folder / f"worker{i}.jsonl" for i in range(containers)]
    processes = [
        _container(role, out, worker_env, "--pacing", pacing, "--fleet-size", str(fleet_size or containers))
        for out in outputs
    ]
    if api_rate:
        outputs.append(folder / "api.jsonl")
        processes.append(_container("api", outputs[-1], api_env, "--rate", f"{api_rate:.4f}"))
    try:
        deadline = time.monotonic() + 180
        while not all(any("ready" in line for line in _lines(out)) for out in outputs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                errors = [
                    p.stderr.read().decode()[-1500:] for p in processes if p.poll() is not None and p.stderr
                ]
                raise RuntimeError(f"a container did not start: {errors}")
            time.sleep(0.2)
        time.sleep(api_baseline_seconds)
        sqs = client(stack.endpoint, "sqs")
        fed_at = time.time()
        if role == "worker":
            _feed(sqs, aws.queue_url, count, run, sandbox, ahead=30 * containers + 50)
            drained = _wait_for_drain(sandbox, run, count, limit)
        else:
            drained = not time.sleep(DRAIN_SECONDS)
        time.sleep(1)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
    dlq = int(
        sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    item_sizes = _idempotency_item_sizes(client(stack.endpoint, "dynamodb"), aws.table_name)
    worker_lines = [line for out in outputs[:containers] for line in _lines(out)]
    api_lines = _lines(outputs[-1]) if api_rate else []
    figures = _figures(
        sandbox.timed(),
        run=run if role == "worker" else "",
        role=role,
        containers=containers,
        limit=limit,
        pacing=pacing,
        count=count,
        fed_at=fed_at,
        drained=drained,
        dlq=dlq,
        worker_lines=worker_lines,
        api_lines=api_lines,
        api_rate=api_rate,
        item_sizes=item_sizes,
    )
    figures["fleet_size"] = fleet_size or containers
    return figures


def _wait_for_drain(sandbox: TimedSandbox, run: str, count: int, limit: float) -> bool:
    """Until every lead of this run is in the sandbox (a lost one would keep it waiting: give up
    after twice the time the limit needs)."""
    deadline = time.monotonic() + 60 + 2 * count / limit
    suffix = "@fleet.example"
    while time.monotonic() < deadline:
        created = sum(1 for c in list(sandbox.contacts.values()) if (c.get("email") or "").endswith(suffix))
        if created >= count:
            return True
        time.sleep(0.5)
    return False


def _idempotency_item_sizes(dynamodb: Any, table: str) -> dict[str, float]:
    """Mean size in bytes of each kind of item the run left in the idempotency table, as DynamoDB
    counts it (attribute names and values): what a write of it costs in 1 KB write units."""
    sizes: dict[str, list[int]] = {"record": [], "journal": [], "ratelimit": []}
    pages = dynamodb.get_paginator("scan").paginate(TableName=table)
    for item in (item for page in pages for item in page["Items"]):
        size = sum(len(name) + len(str(next(iter(value.values())))) for name, value in item.items())
        key = item["id"]["S"]
        kind = (
            "journal"
            if key.startswith("sent#")
            else "ratelimit"
            if key.startswith("ratelimit#")
            else "record"
        )
        sizes[kind].append(size)
    return {kind: statistics.mean(values) for kind, values in sizes.items() if values}


def _figures(
    timed: list[tuple[float, RecordedRequest]],
    *,
    run: str,
    role: str,
    containers: int,
    limit: float,
    pacing: str,
    count: int,
    fed_at: float,
    drained: bool,
    dlq: int,
    worker_lines: list[dict[str, Any]],
    api_lines: list[dict[str, Any]],
    api_rate: float,
    item_sizes: dict[str, float],
) -> dict[str, Any]:
    creates = [(t, r) for t, r in timed if r.method == "POST" and r.path == "/contacts"]
    domain = "@fleet.example" if role == "worker" else "@client.example"
    mine = [(t, r) for t, r in creates if str((r.json or {}).get("email", "")).endswith(domain)]
    created = [t for t, r in mine if r.status == 200]
    emails = Counter(str(r.json["email"]) for _, r in mine if r.status == 200 and r.json)
    signups = [(t, r) for t, r in creates if str((r.json or {}).get("email", "")).endswith("@api.example")]
    first, last = (min(created), max(created)) if created else (fed_at, fed_at)
    first = max(first, fed_at)  # client containers start creating before the measured run
    windows = list(range(math.floor(first / WINDOW) + 1, math.floor(last / WINDOW)))
    steady_from, steady_to = (windows[0] * WINDOW, (windows[-1] + 1) * WINDOW) if windows else (first, last)
    made = [t for t, r in creates if r.status == 200 and steady_from <= t < steady_to]
    accepted = [t for t, r in timed if r.status != 429 and steady_from <= t < steady_to]
    seconds = max(steady_to - steady_from, 1e-9)
    calls = [r for t, r in timed if fed_at <= t]
    refused = sum(1 for r in calls if r.status == 429)

    invocations = [line for line in worker_lines if "ms" in line]
    summaries = [line["summary"] for line in worker_lines if "summary" in line]
    aws_calls: Counter[str] = Counter()
    for summary in summaries:
        aws_calls.update(summary["aws_calls"])
    store_ms = [ms for summary in summaries for ms in summary.get("store_ms", [])]
    during = [
        line["ms"] for line in api_lines if "ms" in line and line["warm"] and first <= line["at"] <= last + 1
    ]
    before = [line["ms"] for line in api_lines if "ms" in line and line["warm"] and line["at"] < fed_at]
    per_window = Counter(math.floor(t / WINDOW) for t, r in timed if r.status != 429 and t >= first)
    figures: dict[str, Any] = {
        "calls_per_window": [
            per_window[w] for w in range(math.floor(first / WINDOW), math.floor(last / WINDOW) + 1)
        ],
        "containers": containers,
        "limit_per_second": limit,
        "role": role,
        "pacing": pacing,
        "contacts": count if role == "worker" else len(emails),
        "steady_windows": len(windows),
        "steady_rate": len(made) / seconds,
        "steady_ratio": len(made) / seconds / limit,
        "budget_used": len(accepted) / seconds / limit,
        "drain_seconds": last - first,
        "drain_rate": len(created) / max(last - first, 1e-9),
        "intercom_calls": len(calls),
        "answered_429": refused,
        "share_429": refused / max(1, len(calls)),
        "lost": count - len(emails) if role == "worker" else 0,
        "duplicated": sum(n - 1 for n in emails.values()),
        "dead_lettered": dlq,
        "drained": drained,
        "api_rate": api_rate,
        "api_calls_during_drain": len(during),
        "api_p50_ms": _percentile(during, 0.5),
        "api_p99_ms": _percentile(during, 0.99),
        "api_p99_idle_ms": _percentile(before, 0.99),
        "api_answers": dict(Counter(str(line["status"]) for line in api_lines if "status" in line)),
        "api_answered_429_by_intercom": sum(1 for _, r in signups if r.status == 429),
        "invocations": len(invocations),
        "invocation_ms_median": _percentile([line["ms"] for line in invocations], 0.5),
        "invocation_seconds_total": sum(line["ms"] for line in invocations) / 1000,
        "aws_calls_per_contact": {op: n / count for op, n in sorted(aws_calls.items())},
        "log_bytes_per_contact": sum(s["log_bytes"] for s in summaries) / count,
        "idempotency_item_bytes": item_sizes,
        "store_ms_median": _percentile(store_ms, 0.5),
        "store_ms_p99": _percentile(store_ms, 0.99),
    }
    if role == "worker":
        figures["cost_per_1000"] = cost_per_1000(figures)
    return figures


def cost_per_1000(f: dict[str, Any]) -> dict[str, float]:
    """Dollars per 1,000 contacts drained by the worker, from what this drain measured."""
    per = 1000 / f["contacts"]
    calls = f["aws_calls_per_contact"]
    sizes = f["idempotency_item_bytes"]

    def units(kind: str) -> int:
        return max(1, math.ceil(sizes.get(kind, 1) / 1024))

    # PutItem: the in-progress record and the send journal (small); UpdateItem: the completed record
    # holding Intercom's answer, billed at the size of the item after the update; the bucket's counter.
    writes = (
        calls.get("dynamodb:PutItem", 0) * units("journal")
        + calls.get("dynamodb:UpdateItem", 0) * units("record")
        + calls.get("dynamodb:DeleteItem", 0)
    )
    reads = calls.get("dynamodb:GetItem", 0) * math.ceil(sizes.get("record", 1) / 4096)
    sqs_requests = 0.1 + sum(n for op, n in calls.items() if op.startswith("sqs:"))  # producer + ESM
    secret_calls = f["containers"] / (SECRET_CACHE_SECONDS * f["drain_rate"])  # per contact
    lines = {
        "lambda_duration": f["invocation_seconds_total"] * per * MEMORY_GB * LAMBDA_GB_SECOND_ARM64,
        "lambda_requests": f["invocations"] * per * LAMBDA_REQUEST,
        "sqs": sqs_requests * 1000 * SQS_REQUEST,
        "dynamodb": (writes * DYNAMODB_WRITE_UNIT + reads * DYNAMODB_READ_UNIT) * 1000,
        "secrets_manager": secret_calls * 1000 * SECRETS_MANAGER_CALL,
        "eventbridge": calls.get("events:PutEvents", 0) * 1000 * EVENTBRIDGE_EVENT,
        "cloudwatch_logs": f["log_bytes_per_contact"] * 1000 / 1e9 * CLOUDWATCH_LOGS_GB,
    }
    lines["total"] = sum(lines.values())
    return lines


# --- what runs ------------------------------------------------------------------------------------

# (containers, calls a second, role): the whole worker up to what this machine drains (`ceiling`),
# the worker's Intercom client alone (role "client": its gate and thread pool, no AWS) above that.
MATRIX = [
    (1, 10, "worker"), (1, 20, "worker"), (4, 10, "worker"), (4, 20, "worker"), (10, 10, "worker"), (10, 20, "worker"),
    (1, 50, "client"), (4, 50, "client"), (10, 50, "client"), (1, 200, "client"), (4, 200, "client"), (10, 200, "client"),
]  # fmt: skip
QUICK = [(1, 20, "worker"), (4, 20, "worker"), (10, 20, "worker"), (10, 200, "client")]
COMPARE = [(4, 20), (10, 20)]
# (pacing, fleet size it divides by): "divided" twice, knowing the fleet's size exactly, and set for a
# larger fleet than runs (what a template's maximum concurrency gives it when the queue is short).
CANDIDATES = [("header", None), ("paced", None), ("divided", None), ("divided", 2), ("bucket", None)]
CEILING = [1, 4, 10]


def section(*, quick: bool = False, compare: bool = False) -> dict[str, Any]:
    """Run the fleet benchmark: the local ceiling, then the matrix (or the pacing candidates)."""
    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "window_seconds": WINDOW,
        "prices": PRICES_AS_OF,
    }
    with tempfile.TemporaryDirectory() as scratch:
        stack = start_stack(Path(scratch))
        try:
            results["ceiling"] = [
                _progress(run_config(stack, containers=n, limit=100_000, contacts=1000, api=False), "ceiling")
                for n in (CEILING[1:2] if quick or compare else CEILING)
            ]
            if compare:
                results["compare"] = [
                    _progress(
                        run_config(
                            stack, containers=n, limit=limit, pacing=pacing, fleet_size=n * (factor or 1)
                        ),
                        "compare",
                    )
                    for n, limit in COMPARE
                    for pacing, factor in CANDIDATES
                ]
            else:
                results["matrix"] = [
                    _progress(
                        run_config(
                            stack,
                            containers=n,
                            limit=limit,
                            role=role,
                            api_baseline_seconds=10 if i == 0 else 0,
                        ),
                        "matrix",
                    )
                    for i, (n, limit, role) in enumerate(QUICK if quick else MATRIX)
                ]
        finally:
            stack.stop()
    return results


def _label(f: dict[str, Any]) -> str:
    """`paced`, `divided/20` (the fleet size it divides by), `paced client` (the client alone)."""
    pacing = f"divided/{f['fleet_size']}" if f["pacing"] == "divided" else f["pacing"]
    return pacing + (" client" if f["role"] == "client" else "")


def _progress(figures: dict[str, Any], label: str) -> dict[str, Any]:
    print(
        f"  fleet {label}: {figures['containers']} x {figures['limit_per_second']:g}/s {_label(figures)}: "
        f"steady {figures['steady_ratio']:.1%} of the limit, 429 {figures['share_429']:.2%}, "
        f"lost {figures['lost']}, duplicated {figures['duplicated']}, API p99 {figures['api_p99_ms']:.0f} ms",
        file=sys.stderr,
        flush=True,
    )
    return figures


def report(results: dict[str, Any]) -> str:
    lines = [
        f"Fleet: worker containers sharing one Intercom rate limit ({results['window_seconds']} s windows)"
        f" - {results['machine']}",
        "   goals: steady >= 90% of the limit, <= 1% of calls 429, 0 lost, 0 duplicated; API p99 < 1 s",
    ]
    if "ceiling" in results:
        lines.append(
            "   local ceiling (no rate limit, 1,000 leads): "
            + ", ".join(f"{f['containers']} containers {f['drain_rate']:.0f}/s" for f in results["ceiling"])
        )
    for key, title in (("matrix", "containers x limit"), ("compare", "candidates")):
        if key not in results:
            continue
        lines.append(
            f"   {title}: pacing        steady/limit  budget  429s    lost dup dlq  API p99 (idle)"
            "   invocation  $/1,000"
        )
        for f in results[key]:
            cost = f"{f['cost_per_1000']['total']:.5f}" if "cost_per_1000" in f else "-"
            lines.append(
                f"   {f['containers']:2d} x {f['limit_per_second']:4g}/s {_label(f):14s}"
                f"  {f['steady_ratio']:6.1%}   {f['budget_used']:6.1%}  {f['share_429']:6.2%}"
                f"  {f['lost']:4d} {f['duplicated']:3d} {f['dead_lettered']:3d}"
                f"  {f['api_p99_ms']:6.0f} ms ({f['api_p99_idle_ms']:4.0f})"
                f"  {f['invocation_ms_median']:7.0f} ms  {cost}"
            )
    lines.append(f"   prices: {results['prices']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args(argv)
    results = section(quick=args.quick, compare=args.compare)
    text = report(results)
    print(text)
    # Untracked, beside `make bench`'s runs but not among them: `make bench-publish` never picks these.
    runs = RESULTS / "runs" / "fleet"
    runs.mkdir(parents=True, exist_ok=True)
    stem = runs / (time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()) + ("-compare" if args.compare else ""))
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".txt").write_text(text + "\n")
    print(f"saved to {stem.with_suffix('.txt').relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
