"""The local stack's throughput, as `make run` runs it: contacts queued with POST /contacts/batch and
drained by the worker into the Intercom sandbox.

- Two batches of 1,000 posted at once, timed until every contact is created (the goal: a minute).
- 1,000 contacts with custom attributes sent as text (converted to the workspace's types): how many
  times the containers read the workspace's attribute list (the goal: at most one per container) and
  the drain rate against the same contacts without attributes.
- 1,000 contacts of one company with one tag, then 1,000 without, at a rate limit of 50 calls a
  second (Intercom's limit scaled down so that both runs are held by it): each run's contacts per
  second, and the calls by route (the goal: 1,000 creates, attaches and taggings, and a handful of
  company and tag look-ups).
- Then 100, 1,000 and 10,000 contacts queued in turn: the accept time of each batch of (up to) 1,000,
  with the queue's depth when it was posted, and the drain rate (contacts created per second) while
  the queue held that many. Both should stay flat as the queue deepens.

`python -m benchmarks.drain [--quick]`; `make bench` runs it too. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import urllib3

from local.aws import client
from tests.integration.stack import running_stack

BATCH = 1000
DEPTHS = (100, 1000, 10_000)
COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


class Stack:
    def __init__(self, state: dict[str, Any]) -> None:
        self.api, self.sandbox = state["api_url"], state["sandbox_url"]
        self.headers = {"x-api-key": state["api_key"], "Content-Type": "application/json"}
        self.sqs = client(state["aws_endpoint_url"], "sqs")
        self.queue_url = state["queue_url"]
        self.http = urllib3.PoolManager(maxsize=4, retries=False, timeout=300)

    def post_batch(self, emails: list[str], **fields: Any) -> float:
        """Seconds to have the batch accepted (202)."""
        body = json.dumps({"contacts": [{"role": "lead", "email": email, **fields} for email in emails]})
        started = time.perf_counter()
        answer = self.http.request("POST", f"{self.api}/contacts/batch", body=body, headers=self.headers)
        if answer.status != 202:
            raise RuntimeError(f"the batch was answered {answer.status}: {answer.data[:300]!r}")
        return time.perf_counter() - started

    def depth(self) -> int:
        """Messages not yet done: waiting, or received and not yet deleted."""
        counts = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=COUNTS)["Attributes"]
        return sum(int(counts[name]) for name in COUNTS)

    def created(self) -> set[str]:
        data = json.loads(self.http.request("GET", f"{self.sandbox}/contacts").data)["data"]
        return {contact["email"] for contact in data}

    def route_counts(self) -> dict[str, int]:
        """Requests the sandbox has had, by route (`POST /contacts/{id}/tags`)."""
        listed = json.loads(self.http.request("GET", f"{self.sandbox}/_sandbox/requests").data)
        counts: dict[str, int] = {}
        for request in listed:
            counts[request["route"]] = counts.get(request["route"], 0) + 1
        return counts

    def attribute_reads(self) -> int:
        listed = json.loads(self.http.request("GET", f"{self.sandbox}/_sandbox/requests").data)
        return sum(r["method"] == "GET" and r["path"] == "/data_attributes" for r in listed)

    def wait_drained(self, on_sample: Callable[[float, int], None], timeout: float = 1800) -> float:
        deadline = time.monotonic() + timeout
        while (depth := self.depth()) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{depth} messages still queued after {timeout} s")
            on_sample(time.monotonic(), depth)
            time.sleep(0.5)
        return time.monotonic()


def two_batches(stack: Stack) -> dict[str, float]:
    """The issue's goal: 2,000 contacts as two batches posted at once, all created within a minute."""
    emails = [f"pair{n}@example.com" for n in range(2 * BATCH)]
    started = time.monotonic()
    with ThreadPoolExecutor(2) as posters:
        accepted = list(posters.map(stack.post_batch, [emails[:BATCH], emails[BATCH:]]))
    finished = stack.wait_drained(lambda *_: None)
    missing = set(emails) - stack.created()
    if missing:
        raise RuntimeError(f"{len(missing)} contacts were not created, e.g. {sorted(missing)[:3]}")
    return {
        "contacts": len(emails),
        "accept_s": max(accepted),
        "all_created_s": finished - started,
        "per_s": len(emails) / (finished - started),
    }


def with_attributes(stack: Stack) -> dict[str, Any]:
    """A batch of 1,000 with two custom attributes as text, then the same without: attribute-list reads
    (GET /data_attributes in the sandbox's request log) and each batch's drain rate."""
    for name, data_type in (("plan", "string"), ("seats", "integer")):
        stack.http.request(
            "POST",
            f"{stack.sandbox}/_sandbox/attributes",
            body=json.dumps({"name": name, "data_type": data_type}),
        )
    reads_before = stack.attribute_reads()
    runs = {}
    for label, fields in (("with", {"custom_attributes": {"plan": "pro", "seats": "12"}}), ("without", {})):
        emails = [f"attr-{label}-{n}@example.com" for n in range(BATCH)]
        started = time.monotonic()
        stack.post_batch(emails, **fields)
        finished = stack.wait_drained(lambda *_: None)
        if missing := set(emails) - stack.created():
            raise RuntimeError(f"{len(missing)} contacts were not created, e.g. {sorted(missing)[:3]}")
        runs[label] = BATCH / (finished - started)
    held = json.loads(stack.http.request("GET", f"{stack.sandbox}/contacts").data)["data"]
    typed = [c["custom_attributes"].get("seats") for c in held if c["email"].startswith("attr-with-")]
    if typed != [12] * BATCH:
        raise RuntimeError(f"the sandbox holds seats as {sorted(set(map(repr, typed)))[:3]}, not 12")
    return {
        "attribute_list_reads": stack.attribute_reads() - reads_before,
        "per_s_with": runs["with"],
        "per_s_without": runs["without"],
    }


STEPS_LIMIT = 500  # calls per 10 s window for the companies-and-tags runs
STEP_ROUTES = (
    "POST /contacts",
    "POST /companies",
    "POST /contacts/{id}/companies",
    "POST /tags",
    "POST /contacts/{id}/tags",
)


def with_steps(stack: Stack) -> dict[str, Any]:
    """A batch of 1,000 of one company and one tag, then 1,000 without, both held by the sandbox's rate
    limit: each one's contacts per second, and the calls the first spent by route."""
    limit = {"limit": STEPS_LIMIT, "window_seconds": 10}
    stack.http.request("POST", f"{stack.sandbox}/_sandbox/rate-limit", body=json.dumps(limit))
    runs, calls = {}, {}
    company = {"company_id": "bench-co", "name": "Bench Co", "plan": "Pro"}
    try:
        for label, fields in (("with", {"companies": [company], "tags": ["Bench"]}), ("without", {})):
            before = stack.route_counts()
            emails = [f"steps-{label}{n}@example.com" for n in range(BATCH)]
            started = time.monotonic()
            stack.post_batch(emails, **fields)
            finished = stack.wait_drained(lambda *_: None)
            if missing := set(emails) - stack.created():
                raise RuntimeError(f"{len(missing)} contacts were not created, e.g. {sorted(missing)[:3]}")
            runs[label] = BATCH / (finished - started)
            after = stack.route_counts()
            calls[label] = {route: after.get(route, 0) - before.get(route, 0) for route in STEP_ROUTES}
    finally:
        stack.http.request("POST", f"{stack.sandbox}/_sandbox/rate-limit", body=json.dumps({"limit": None}))
    return {"per_s_with": runs["with"], "per_s_without": runs["without"], "calls_with": calls["with"]}


def at_depth(stack: Stack, depth: int) -> dict[str, Any]:
    """`depth` contacts queued in batches of up to 1,000, then drained; the drain rate by queue depth."""
    emails = [f"depth{depth}-{n}@example.com" for n in range(depth)]
    samples: list[tuple[float, int]] = []
    accepts = []
    started = time.monotonic()
    for start in range(0, depth, BATCH):
        queued = stack.depth()
        accepts.append({"queued_before": queued, "seconds": stack.post_batch(emails[start : start + BATCH])})
        samples.append((time.monotonic(), stack.depth()))
    finished = stack.wait_drained(lambda at, left: samples.append((at, left)))
    samples.append((finished, 0))
    missing = set(emails) - stack.created()
    if missing:
        raise RuntimeError(f"{len(missing)} contacts were not created, e.g. {sorted(missing)[:3]}")
    return {
        "contacts": depth,
        "accepts": accepts,
        "all_created_s": finished - started,
        "per_s": depth / (finished - started),
        "rate_by_depth": _rate_by_depth(samples[len(accepts) - 1 :]),
    }


def _rate_by_depth(samples: list[tuple[float, int]]) -> dict[str, float]:
    """Contacts done per second while the queue held 10,000-5,001, 5,000-1,001, 1,000-101 and 100-0
    messages, from depth samples taken once the last batch was accepted."""
    bands = {
        (5000, 10_000): "10,000-5,001",
        (1000, 5000): "5,000-1,001",
        (100, 1000): "1,000-101",
        (-1, 100): "100-0",
    }
    done: dict[str, list[float]] = {}
    for (t0, d0), (t1, d1) in itertools.pairwise(samples):
        for (low, high), name in bands.items():
            if low < d0 <= high and t1 > t0:
                totals = done.setdefault(name, [0.0, 0.0])
                totals[0] += d0 - d1
                totals[1] += t1 - t0
    return {name: count / seconds for name, (count, seconds) in done.items() if seconds}


def measure(*, quick: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch, running_stack(Path(scratch)) as state:
        stack = Stack(state)
        results: dict[str, Any] = {
            "processes": {"api": state["api_processes"], "worker": state["worker_processes"]},
            "two_batches": two_batches(stack),
            "attributes": with_attributes(stack),
            "steps": with_steps(stack),
        }
        results["depths"] = [at_depth(stack, depth) for depth in (DEPTHS[:2] if quick else DEPTHS)]
        return results


def report(results: dict[str, Any]) -> str:
    pair = results["two_batches"]
    processes = results["processes"]
    lines = [
        "7. The local stack (make run): contacts queued with POST /contacts/batch, drained into the sandbox",
        f"   {processes['api']} API processes, {processes['worker']} worker processes; leads into the Intercom sandbox",
        f"   2,000 contacts as two batches posted at once: accepted in {pair['accept_s']:.1f} s, all created in "
        f"{pair['all_created_s']:.1f} s ({pair['per_s']:.0f}/s)   target < 60 s: {'met' if pair['all_created_s'] < 60 else 'NOT met'}",
    ]
    if attributes := results.get("attributes"):
        containers = processes["api"] + processes["worker"]
        reads = attributes["attribute_list_reads"]
        lines.append(
            f"   1,000 contacts with 2 custom attributes as text: {reads} attribute-list reads for {containers} "
            f"containers   target <= 1 per container: {'met' if reads <= containers else 'NOT met'}; "
            f"{attributes['per_s_with']:.0f}/s vs {attributes['per_s_without']:.0f}/s without "
            f"(x{attributes['per_s_with'] / attributes['per_s_without']:.2f})"
        )
    if steps := results.get("steps"):
        calls = steps["calls_with"]
        lines.append(
            f"   1,000 contacts of one company with one tag, at {STEPS_LIMIT} calls per 10 s: "
            f"{steps['per_s_with']:.1f}/s vs {steps['per_s_without']:.1f}/s without "
            f"(x{steps['per_s_with'] / steps['per_s_without']:.2f}); calls: "
            + ", ".join(f"{route} {count:,}" for route, count in calls.items())
        )
    for run in results["depths"]:
        accepts = ", ".join(f"{a['seconds']:.2f} s at {a['queued_before']:,}" for a in run["accepts"])
        rates = ", ".join(f"{rate:.0f}/s at {band}" for band, rate in run["rate_by_depth"].items())
        lines.append(
            f"   {run['contacts']:>6,} queued: all created in {run['all_created_s']:.0f} s ({run['per_s']:.0f}/s); "
            f"drain rate by depth: {rates}"
        )
        lines.append(f"          accept time per batch of up to 1,000, by messages already queued: {accepts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 only")
    args = parser.parse_args(argv)
    print(report(measure(quick=args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
