"""`make bench`: cold start, warm overhead, batch throughput, memory, secret reads and package size.

Every figure is a median over repeated runs with its spread, every comparison a ratio measured in the
same run against a baseline (this machine is shared and noisy). Targets are printed beside the
figures; the command does not fail on them. Everything runs on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / ".aws-sam" / "build"
RESULTS = REPO / "benchmarks" / "results"
RUNS = "runs"  # under RESULTS: every run's .json and .txt, gitignored, so `make bench` leaves git clean
PUBLISHED = "published"  # under RESULTS: the run the docs quote, tracked, written only by --publish
VENVS = REPO / "benchmarks" / ".venvs"  # throwaway interpreters, like Lambda's runtime (gitignored)
IDIOMATIC = "idiomatic floor (Powertools)"


def _median_spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p25": ordered[len(ordered) // 4],
        "p75": ordered[(3 * len(ordered)) // 4],
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "n": len(ordered),
    }


def _site_packages() -> Path:
    return Path(next(p for p in sys.path if p.endswith("site-packages")))


def _runtime_python(name: str, *packages: str) -> Path | None:
    """A venv holding what Lambda's python3.13 runtime holds (boto3, compiled) plus `packages`.

    The project's own venv also has the SAM CLI's pyOpenSSL and awscrt, which boto3 imports when
    present and the Lambda runtime does not have: timing cold starts there would mislead.
    """
    python = VENVS / name / "bin" / "python"
    pins = (REPO / "requirements-dev.txt").read_text().splitlines()
    # boto3 and the SnapStart hooks library, as the runtime has them
    wanted = [line.split()[0] for line in pins if line.startswith(("boto3==", "snapshot-restore-py=="))]
    wanted += packages
    marker = VENVS / name / "installed.txt"
    if python.exists() and marker.exists() and marker.read_text() == "\n".join(wanted):
        return python
    shutil.rmtree(VENVS / name, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENVS / name)], check=True)
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *wanted], capture_output=True, check=False
    )
    if installed.returncode != 0:
        shutil.rmtree(VENVS / name)
        return None
    compiled = [str(python), "-m", "compileall", "-q", "-j", "0", str(VENVS / name)]
    subprocess.run(compiled, capture_output=True, check=False)
    marker.write_text("\n".join(wanted))
    return python


def _host_copy(function: str, *, bytecode: bool, into: Path) -> Path:
    """The build output with pydantic-core swapped for this machine's (the build targets arm64)."""
    target = into / f"{function}-{'pyc' if bytecode else 'source'}"
    shutil.copytree(BUILD / function, target)
    shutil.rmtree(target / "pydantic_core")
    shutil.copytree(_site_packages() / "pydantic_core", target / "pydantic_core")
    if bytecode:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                "-f",
                "-j",
                "0",
                "--invalidation-mode",
                "unchecked-hash",
                str(target / "pydantic_core"),
            ],
            check=True,
        )
    else:
        for cache in target.rglob("__pycache__"):
            shutil.rmtree(cache)
    return target


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH"}}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # like /var/task: nothing can be cached between cold starts
    env.update(extra)
    return env


def _time_process(command: list[str], env: dict[str, str]) -> float:
    """From process start to the first answer. Not to the process's exit: Lambda keeps a process
    after its answer, and tearing down a big heap at exit would be timed as cold start."""
    elapsed, output = None, []
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True) as process:
            assert process.stdout is not None
            for line in process.stdout:
                output.append(line)
                if line.startswith("ANSWERED "):
                    elapsed = time.perf_counter() - started
        stderr.seek(0)
        errors = stderr.read()
    if process.returncode != 0 or elapsed is None or output[-1].split()[-1] != "201":
        raise RuntimeError(f"{command[-2:]} failed: {''.join(output)[-300:]} {errors[-800:]}")
    return elapsed * 1000


def cold_start(env: dict[str, str], runs: int, scratch: Path) -> dict[str, Any]:
    variants: dict[str, Callable[[], list[str]]] = {}
    with_pyc = _host_copy("CreateContactFunction", bytecode=True, into=scratch)
    without_pyc = _host_copy("CreateContactFunction", bytecode=False, into=scratch)
    runtime = _runtime_python("runtime")
    if runtime is None:
        raise RuntimeError("could not build the runtime venv (boto3 from PyPI)")
    child = [str(runtime), "-m", "benchmarks.child", "cold"]
    service = "intercom_contacts.handlers.api"
    variants["service (build, bytecode)"] = lambda: [*child, str(with_pyc), service]
    variants["service (build, no bytecode)"] = lambda: [*child, str(without_pyc), service]
    variants["floor (boto3 + urllib3)"] = lambda: [*child, str(REPO / "benchmarks"), "floor_handler"]
    # The same build's Powertools and pydantic, with the least handler that uses them as specified.
    variants[IDIOMATIC] = lambda: [*child, str(with_pyc), "benchmarks.powertools_floor"]
    sdk = _runtime_python("sdk", "python-intercom")
    if sdk is not None:
        sdk_child = [str(sdk), "-m", "benchmarks.child", "cold", str(REPO / "benchmarks"), "sdk_handler"]
        variants["peer (python-intercom SDK)"] = lambda: sdk_child
    timings: dict[str, list[float]] = {name: [] for name in variants}
    child_env = _clean_env(
        {**env, "PYTHONPATH": str(REPO)}
    )  # benchmarks.child only; the code dir comes first
    for _ in range(runs):  # round robin, so drift hits every variant alike
        for name, command in variants.items():
            try:
                timings[name].append(_time_process(command(), child_env))
            except RuntimeError as error:
                timings[name] = []
                print(f"  {name}: {error}", file=sys.stderr)
    results = {name: _median_spread(values) for name, values in timings.items() if values}
    floor = results["floor (boto3 + urllib3)"]["median"]
    for figures in results.values():
        figures["ratio_to_floor"] = figures["median"] / floor
    return results


def warm_and_memory(env: dict[str, str], pairs: int, total: int, scratch: Path) -> dict[str, Any]:
    code = scratch / "CreateContactFunction-pyc"
    runtime = _runtime_python("runtime")
    result = subprocess.run(
        [str(runtime), "-m", "benchmarks.child", "warm", str(code), str(pairs), str(total)],
        env=_clean_env({**env, "PYTHONPATH": str(REPO)}),
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "overhead_ms": _median_spread(data["overhead_ms"]),
        "peak_rss_mb": data["peak_rss_mb"],
        "rss_mb_after_pairs": data["rss_mb_after_pairs"],
        "rss_mb_after_total": data["rss_mb_after_total"],
        "rss_growth_mb": data["rss_mb_after_total"] - data["rss_mb_after_pairs"],
        "requests": data["requests"],
        "secret_reads_per_1000": data["secret_reads"] * 1000 / data["requests"],
    }


def restored(env: dict[str, str], runs: int, scratch: Path) -> dict[str, float]:
    runtime = _runtime_python("runtime")
    result = subprocess.run(
        [
            str(runtime),
            "-m",
            "benchmarks.child",
            "restored",
            str(scratch / "CreateContactFunction-pyc"),
            str(runs),
        ],
        env=_clean_env({**env, "PYTHONPATH": str(REPO)}),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return _median_spread(json.loads(result.stdout.strip().splitlines()[-1])["restored_ms"])


def batch(aws: Any, sandbox: Any, runs: int) -> dict[str, Any]:
    """A worker batch of 10 against ten times one call, with Intercom answering after 100 ms."""
    from intercom_contacts.handlers import api, worker
    from local.events import api_gateway_event, sqs_event
    from tests.conftest import FakeLambdaContext

    sqs = aws.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sandbox.set_latency(0.1)
    one, ten = [], []
    try:
        for run in range(runs):
            event = api_gateway_event(
                "POST",
                "/contacts",
                body=json.dumps({"role": "lead", "email": f"one{run}@example.com"}),
                headers={"Content-Type": "application/json"},
            )
            started = time.perf_counter()
            assert api.lambda_handler(event, FakeLambdaContext())["statusCode"] == 201
            one.append((time.perf_counter() - started) * 1000)
            for n in range(10):
                sqs.send_message(
                    QueueUrl=aws.queue_url,
                    MessageBody=json.dumps({"role": "lead", "email": f"b{run}-{n}@example.com"}),
                )
            messages: list[dict[str, Any]] = []
            while len(messages) < 10:
                messages += sqs.receive_message(
                    QueueUrl=aws.queue_url,
                    MaxNumberOfMessages=10,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            started = time.perf_counter()
            answer = worker.lambda_handler(sqs_event(messages, queue_arn=arn), FakeLambdaContext())
            ten.append((time.perf_counter() - started) * 1000)
            assert answer == {"batchItemFailures": []}, answer
    finally:
        sandbox.set_latency(0.0)
    one_call, batch_of_ten = statistics.median(one), statistics.median(ten)
    return {
        "one_call_ms": _median_spread(one),
        "batch_of_10_ms": _median_spread(ten),
        "ratio_to_one_call": batch_of_ten / one_call,
        "speedup_vs_sequential": 10 * one_call / batch_of_ten,
    }


def package() -> dict[str, Any]:
    def size(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    out = {}
    for function in sorted(p for p in BUILD.iterdir() if p.is_dir()):
        parts = sorted(
            ((size(p) if p.is_dir() else p.stat().st_size, p.name) for p in function.iterdir()), reverse=True
        )
        out[function.name] = {
            "total_mb": size(function) / 1e6,
            "largest": [f"{name} {bytes_ / 1e6:.1f} MB" for bytes_, name in parts[:5]],
            "boto3_bundled": (function / "boto3").exists(),
            "pyc_files": sum(1 for _ in function.rglob("*.pyc")),
        }
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: dict[str, Any]) -> str:
    lines = [f"Intercom Contacts benchmark - {results['machine']}", ""]
    lines.append("1. Cold start (fresh process -> first POST /contacts answered), ms")
    for name, f in results["cold_start"].items():
        lines.append(
            f"   {name:32s} median {f['median']:7.0f}  p25-p75 {f['p25']:5.0f}-{f['p75']:<5.0f}  x{f['ratio_to_floor']:.2f} of floor"
        )
    cold = results["cold_start"]
    service = cold["service (build, bytecode)"]
    peer = cold.get("peer (python-intercom SDK)")
    lines.append(
        f"   target <= 1.3x floor: {_met(service['ratio_to_floor'] <= 1.3)}; below the SDK peer: "
        + (_met(service["median"] < peer["median"]) if peer else "peer not measured")
    )
    if "restored" in results:
        r = results["restored"]
        lines.append(
            f"   after a SnapStart restore (hooks + first request; Lambda's restore itself not measurable here)"
            f" median {r['median']:.0f} ms  p25-p75 {r['p25']:.0f}-{r['p75']:.0f}"
        )
    if IDIOMATIC in cold:
        idiomatic = cold[IDIOMATIC]
        lines.append(
            f"   the specified stack alone (Powertools resolver + pydantic + Logger/Metrics + parameters) is "
            f"x{idiomatic['ratio_to_floor']:.2f} of floor; the service is x{service['median'] / idiomatic['median']:.2f} of it"
        )
    warm = results["warm"]
    o = warm["overhead_ms"]
    lines += [
        "",
        f"2. Warm overhead per request (handler minus a bare keep-alive POST), n={o['n']}",
        f"   median {o['median']:.3f} ms  p99 {o['p99']:.3f} ms   target < 1 ms / < 3 ms: {_met(o['median'] < 1 and o['p99'] < 3)}",
    ]
    b = results["batch"]
    lines += [
        "",
        "3. Batch of 10 with Intercom answering after 100 ms",
        f"   one call {b['one_call_ms']['median']:.0f} ms, batch {b['batch_of_10_ms']['median']:.0f} ms: "
        f"x{b['ratio_to_one_call']:.2f} of one call, {b['speedup_vs_sequential']:.1f}x faster than sequential  "
        f"target < 2.5x: {_met(b['ratio_to_one_call'] < 2.5)}",
        "",
        f"4. Memory: peak RSS {warm['peak_rss_mb']:.0f} MB after {warm['requests']} requests; "
        f"growth {warm['rss_growth_mb']:+.1f} MB from 1,000 to {warm['requests']}  "
        f"target < 110 MB, no growth: {_met(warm['peak_rss_mb'] < 110 and warm['rss_growth_mb'] < 2)}",
        "",
        f"5. Secrets Manager reads per 1,000 requests: {warm['secret_reads_per_1000']:.2f}  "
        f"(one per container per cache period: {_met(warm['secret_reads_per_1000'] * warm['requests'] / 1000 <= 1)})",
        "",
        "6. Package",
    ]
    for function, p in results["package"].items():
        lines.append(
            f"   {function:24s} {p['total_mb']:5.1f} MB, {p['pyc_files']} .pyc, boto3 bundled: {p['boto3_bundled']}; "
            + ", ".join(p["largest"][:4])
        )
    return "\n".join(lines)


def save_run(results: dict[str, Any], text: str, *, results_dir: Path = RESULTS) -> Path:
    """Write a run under `results_dir/runs/` (untracked), named by its start time; returns its .json."""
    runs = results_dir / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    stem = runs / results["started"].replace(":", "")
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".txt").write_text(text + "\n")
    return stem.with_suffix(".json")


def publish(run: Path | None = None, *, results_dir: Path = RESULTS) -> Path:
    """Copy a saved run (the newest when none is named) to the tracked `published.json` and `.txt`."""
    if run is None:
        saved = sorted((results_dir / RUNS).glob("*.json"))
        if not saved:
            raise FileNotFoundError(f"no run saved under {results_dir / RUNS}: run `make bench` first")
        run = saved[-1]
    target = results_dir / PUBLISHED
    shutil.copyfile(run.with_suffix(".json"), target.with_suffix(".json"))
    shutil.copyfile(run.with_suffix(".txt"), target.with_suffix(".txt"))
    return target.with_suffix(".txt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke run")
    parser.add_argument(
        "--publish",
        nargs="?",
        const="",
        metavar="RUN",
        help="measure nothing: copy a saved run (default: the newest) to the tracked results/published.*",
    )
    args = parser.parse_args(argv)
    if args.publish is not None:
        print(f"published {publish(Path(args.publish) if args.publish else None).relative_to(REPO)}")
        return 0
    runs, pairs, total, batches = (3, 200, 1000, 3) if args.quick else (10, 1000, 5000, 7)
    if not (BUILD / "CreateContactFunction").exists():
        print("run `sam build` first (make bench does)", file=sys.stderr)
        return 1

    from local.aws import provision, start_moto
    from local.intercom_sandbox import IntercomSandbox

    token = "bench-token"
    moto, endpoint = start_moto()
    try:
        with IntercomSandbox(token=token) as sandbox, tempfile.TemporaryDirectory() as scratch_dir:
            aws = provision(endpoint, token=token)
            env = {
                **aws.env(),
                "INTERCOM_BASE_URL": sandbox.url,
                "POWERTOOLS_SERVICE_NAME": "intercom-contacts",
                "POWERTOOLS_METRICS_NAMESPACE": "IntercomContacts",
                "POWERTOOLS_METRICS_DISABLED": "true",  # the EMF lines would be timed as stdout writes
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "BENCH_TOKEN": token,
            }
            os.environ.update(env)
            scratch = Path(scratch_dir)
            print("cold start ...", file=sys.stderr)
            results: dict[str, Any] = {
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "quick": args.quick,
                "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
                "cold_start": cold_start(env, runs, scratch),
            }
            results["restored"] = restored(env, runs * 3, scratch)
            print("warm overhead and memory ...", file=sys.stderr)
            results["warm"] = warm_and_memory(env, pairs, total, scratch)
            print("batch ...", file=sys.stderr)
            results["batch"] = batch(aws, sandbox, batches)
            results["package"] = package()
    finally:
        moto.stop()
    text = report(results)
    print(text)
    saved = save_run(results, text)
    print(
        f"\nsaved to {saved.relative_to(REPO)} (untracked); `make bench-publish` makes it the published run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
