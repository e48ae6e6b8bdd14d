"""`make bench`: cold start, warm overhead, batch throughput, memory, secret reads and package size.

Every figure is a median over repeated runs with its spread, every comparison a ratio measured in the
same run against a baseline (this machine is shared and noisy). Targets are printed beside the
figures; the command does not fail on them. Everything runs on loopback and stops by itself.

The service runs as deployed: the template's environment (INFO logging, metrics on, JSON log format),
stdout into a pipe the harness drains, and Intercom (the sandbox) over HTTPS, trusted through the
usual CA-bundle variables. The floor and the peers run under the same conditions.

Sections run in the order of `SECTIONS`; a new measurement is one more `Section` there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import drain, fleet

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / ".aws-sam" / "build"
RESULTS = REPO / "benchmarks" / "results"
RUNS = "runs"  # under RESULTS: every run's .json and .txt, gitignored, so `make bench` leaves git clean
PUBLISHED = "published"  # under RESULTS: the run the docs quote, tracked, written only by --publish
VENVS = REPO / "benchmarks" / ".venvs"  # throwaway interpreters, like Lambda's runtime (gitignored)
# The peer SDK, pinned so runs compare like with like: the newest release when this was written. A new
# release is a deliberate change here, and a re-run.
SDK_PIN = "python-intercom==5.0.1"
API_FUNCTION, WORKER_FUNCTION = "CreateContactFunction", "ContactWorkerFunction"
SERVICE, FLOOR, IDIOMATIC, PEER = (
    "service (build, bytecode)",
    "floor (boto3 + urllib3)",
    "idiomatic floor (Powertools)",
    "peer (python-intercom SDK)",
)
WARM_AFTER_COLD = 20  # warm requests each cold-start process makes after its first
TOKEN = "bench-token"
RATE_LIMIT_WINDOW_SECONDS = 10  # the sandbox's, as Intercom's: windows start on multiples of 10 s


@dataclass(frozen=True)
class Repetitions:
    cold_runs: int
    warm_pairs: int
    warm_total: int
    batches: int


FULL, QUICK = Repetitions(15, 1000, 5000, 7), Repetitions(3, 200, 1000, 3)


@dataclass(frozen=True)
class Bench:
    """What every section gets: the stack, the functions' environments, and where to put things."""

    aws: Any  # local.aws.LocalAws
    sandbox: Any  # local.intercom_sandbox.IntercomSandbox
    api_env: dict[str, str]  # the API function's environment as deployed, pointed at moto and the sandbox
    worker_env: dict[str, str]
    scratch: Path
    repetitions: Repetitions

    def code(self) -> Path:
        """The API function's build output with bytecode, prepared for this machine."""
        target = self.scratch / f"{API_FUNCTION}-pyc"
        if not target.exists():
            _host_copy(API_FUNCTION, bytecode=True, into=self.scratch)
        return target


@dataclass(frozen=True)
class Section:
    key: str
    measure: Callable[[Bench], dict[str, Any]]
    render: Callable[[dict[str, Any]], list[str]]


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


def _runtime() -> Path:
    runtime = _runtime_python("runtime")
    if runtime is None:
        raise RuntimeError("could not build the runtime venv (boto3 from PyPI)")
    return runtime


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


def ca_bundle(sandbox_ca: str, into: Path) -> Path:
    """The machine's CA bundle plus the sandbox's certificate: what a client trusts in Lambda is a full
    bundle (~140 roots), and loading it is part of every variant's first TLS connection."""
    defaults = ssl.get_default_verify_paths()
    roots = next(
        (Path(p) for p in (defaults.cafile, defaults.openssl_cafile) if p and Path(p).is_file()), None
    )
    bundle = into / "ca-bundle.pem"
    bundle.write_text((roots.read_text() if roots else "") + "\n" + Path(sandbox_ca).read_text())
    return bundle


def deployed_env(function: str, aws: Any, sandbox: Any, bundle: Path, home: Path) -> dict[str, str]:
    """A function's environment as Lambda gives it: the template's variables with their parameter
    defaults (INFO logs, metrics namespace and service), the JSON log format its LoggingConfig asks for,
    unbuffered stdout (Lambda's runtime flushes every write), and nothing from this shell."""
    from local.functions import load_function, resource_values
    from local.template import load_template

    template = load_template()
    properties = template["Resources"][function]["Properties"]
    logging_config = properties.get("LoggingConfig") or template["Globals"]["Function"].get(
        "LoggingConfig", {}
    )
    deployed = load_function(function, resource_values(aws, intercom_base_url=sandbox.url))
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),  # no ~/.aws here, as in Lambda
        "LANG": "C.UTF-8",
        **{name: value for name, value in aws.env().items() if name.startswith("AWS_")},
        **deployed.environment,
        "AWS_LAMBDA_LOG_FORMAT": logging_config.get("LogFormat", "Text"),
        "AWS_LAMBDA_LOG_LEVEL": "INFO",  # Lambda's default application log level with the JSON format
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(deployed.memory),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # like /var/task: nothing can be cached between cold starts
        "SSL_CERT_FILE": str(bundle),  # OpenSSL's default, so urllib3's and the SDK's (httpx) too
        "REQUESTS_CA_BUNDLE": str(bundle),
        "AWS_CA_BUNDLE": str(bundle),
        "PYTHONPATH": str(REPO),  # benchmarks.child only; the code dir goes first on sys.path
        "BENCH_TOKEN": TOKEN,
    }


@dataclass
class ChildOutput:
    """A child's `BENCH` figures, and what else it wrote to stdout (the handler's logs and metrics)."""

    figures: list[dict[str, Any]]
    started: float
    stdout_lines: int
    stdout_bytes: int


def _run_child(command: list[str], env: dict[str, str], timeout: float = 900) -> ChildOutput:
    """Run a child to its end, draining its stdout as Lambda's log collector does."""
    figures, lines, size = [], 0, 0
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.monotonic()
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True) as process:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("BENCH "):
                    figures.append(json.loads(line.removeprefix("BENCH ")))
                else:
                    lines, size = lines + 1, size + len(line)
            process.wait(timeout=timeout)
        stderr.seek(0)
        errors = stderr.read()
    if process.returncode != 0 or not figures:
        raise RuntimeError(f"{command[3:]} failed ({process.returncode}): {errors[-1500:]}")
    return ChildOutput(figures, started, lines, size)


def cold_start(bench: Bench) -> dict[str, Any]:
    """Each variant in fresh processes, round robin so drift hits every variant alike."""
    runtime = _runtime()
    with_pyc = bench.code()
    without_pyc = _host_copy(API_FUNCTION, bytecode=False, into=bench.scratch)
    cold = [str(runtime), "-m", "benchmarks.child", "cold"]
    service = "intercom_contacts.handlers.api"
    warm = str(WARM_AFTER_COLD)
    variants = {
        SERVICE: [*cold, str(with_pyc), service, warm],
        "service (build, no bytecode)": [*cold, str(without_pyc), service, warm],
        FLOOR: [*cold, str(REPO / "benchmarks"), "floor_handler", warm],
        # The same build's Powertools and pydantic, with the least handler that uses them as specified.
        IDIOMATIC: [*cold, str(with_pyc), "benchmarks.powertools_floor", warm],
    }
    sdk = _runtime_python("sdk", SDK_PIN)
    if sdk is not None:
        variants[PEER] = [
            str(sdk),
            "-m",
            "benchmarks.child",
            "cold",
            str(REPO / "benchmarks"),
            "sdk_handler",
            warm,
        ]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    failed: set[str] = set()
    for _ in range(bench.repetitions.cold_runs):
        for name, command in variants.items():
            if name in failed:
                continue
            try:
                child = _run_child(command, bench.api_env, timeout=120)
            except RuntimeError as error:
                print(f"  {name}: {error}", file=sys.stderr)
                failed.add(name)
                runs[name] = []
                continue
            first, then = child.figures
            assert first["status"] == 201, (name, first)
            warm_request = statistics.median(then["warm_ms"])
            runs[name].append(
                {
                    "cold_ms": (first["answered"] - child.started) * 1000,
                    "init_ms": (first["initialised"] - child.started) * 1000,
                    "first_request_ms": (first["answered"] - first["initialised"]) * 1000,
                    "warm_request_ms": warm_request,
                    "first_extra_ms": (first["answered"] - first["initialised"]) * 1000 - warm_request,
                    "warm_own_ms": statistics.median(then["own_ms"]),
                    "peak_rss_mb": then["peak_rss_mb"],
                    "stdout_bytes_per_request": child.stdout_bytes / (1 + WARM_AFTER_COLD),
                    "stdout_lines_per_request": child.stdout_lines / (1 + WARM_AFTER_COLD),
                }
            )
    for peer_run in runs.get(PEER, []):
        del peer_run["warm_own_ms"]  # httpx streams its answer: part of the reading is outside any timed call
    results: dict[str, Any] = {}
    for name, measured in runs.items():
        if measured:
            results[name] = {
                figure: _median_spread([run[figure] for run in measured]) for figure in measured[0]
            }
    # Ratios pair each run with the floor's run of the same round, so a burst of load on this shared
    # machine moves both sides of a ratio instead of one median.
    floor = runs[FLOOR]
    for name, figures in results.items():
        for figure in ("cold_ms", "init_ms", "first_request_ms", "warm_own_ms", "peak_rss_mb"):
            if figure in figures:
                paired = _median_spread(
                    [run[figure] / floor[i][figure] for i, run in enumerate(runs[name]) if i < len(floor)]
                )
                figures[figure].update(
                    ratio_to_floor=paired["median"], ratio_p25=paired["p25"], ratio_p75=paired["p75"]
                )
    return {**results, "runs": runs}


def render_cold_start(cold: dict[str, Any]) -> list[str]:
    lines = [
        "1. Cold start: fresh process -> first POST /contacts answered, ms (median, p25-p75;"
        " x floor: median of each run over the floor's run in the same round)",
        f"   {'':32s} {'cold start':>22s} {'init':>17s} {'first request':>17s} {'its extra':>10s} {'warm':>6s}",
    ]
    for name, f in cold.items():
        if name == "runs":
            continue
        c, i, r = f["cold_ms"], f["init_ms"], f["first_request_ms"]
        lines.append(
            f"   {name:32s} {c['median']:5.0f} {c['p25']:4.0f}-{c['p75']:<4.0f} x{c['ratio_to_floor']:4.2f}"
            f"  {i['median']:5.0f} x{i['ratio_to_floor']:4.2f}   {r['median']:6.1f} x{r['ratio_to_floor']:5.2f}"
            f"  {f['first_extra_ms']['median']:+8.1f} {f['warm_request_ms']['median']:6.1f}"
        )
    service, peer = cold[SERVICE], cold.get(PEER)
    ratio = service["cold_ms"]["ratio_to_floor"]
    lines.append(
        f"   target <= 1.3x floor: {_met(ratio <= 1.3)} (x{ratio:.2f}, paired runs' p25-p75"
        f" x{service['cold_ms']['ratio_p25']:.2f}-{service['cold_ms']['ratio_p75']:.2f}); below the SDK peer: "
        + (_met(service["cold_ms"]["median"] < peer["cold_ms"]["median"]) if peer else "peer not measured")
    )
    if IDIOMATIC in cold:
        idiomatic = cold[IDIOMATIC]
        lines.append(
            f"   the specified stack alone (Powertools resolver + pydantic + Logger/Metrics + parameters) is "
            f"x{idiomatic['cold_ms']['ratio_to_floor']:.2f} of floor; "
            f"the service is x{service['cold_ms']['median'] / idiomatic['cold_ms']['median']:.2f} of it"
        )
    lines.append(
        f"   its extra: the first request minus the median of the next {WARM_AFTER_COLD} in the same process"
        " (secret read, TLS handshake, anything built late)"
    )
    short = {SERVICE: "service", FLOOR: "floor", IDIOMATIC: "idiomatic", PEER: "peer"}
    lines.append(
        "   warm request's own time (minus its Intercom and AWS calls), ms (x floor): "
        + ", ".join(
            f"{short[name]} {f['warm_own_ms']['median']:.2f} (x{f['warm_own_ms']['ratio_to_floor']:.1f})"
            for name, f in cold.items()
            if name in short and name != PEER
        )
    )
    lines.append(
        f"   peak RSS after {1 + WARM_AFTER_COLD} requests, MB (x floor): "
        + ", ".join(
            f"{short[name]} {f['peak_rss_mb']['median']:.0f} (x{f['peak_rss_mb']['ratio_to_floor']:.2f})"
            for name, f in cold.items()
            if name in short
        )
    )
    lines.append(
        "   stdout per request (JSON logs + EMF), bytes: "
        + ", ".join(
            f"{short[name]} {f['stdout_bytes_per_request']['median']:.0f}"
            for name, f in cold.items()
            if name in short
        )
    )
    return lines


def restored(bench: Bench) -> dict[str, Any]:
    command = [
        str(_runtime()),
        "-m",
        "benchmarks.child",
        "restored",
        str(bench.code()),
        str(bench.repetitions.cold_runs * 3),
    ]
    return _median_spread(_run_child(command, bench.api_env, timeout=300).figures[0]["restored_ms"])


def render_restored(r: dict[str, Any]) -> list[str]:
    return [
        "   after a SnapStart restore (hooks + first request; Lambda's restore itself not measurable here)"
        f" median {r['median']:.0f} ms  p25-p75 {r['p25']:.0f}-{r['p75']:.0f}"
    ]


def warm_and_memory(bench: Bench) -> dict[str, Any]:
    reps = bench.repetitions
    command = [
        str(_runtime()),
        "-m",
        "benchmarks.child",
        "warm",
        str(bench.code()),
        str(reps.warm_pairs),
        str(reps.warm_total),
    ]
    child = _run_child(command, bench.api_env)
    data = child.figures[0]
    return {
        "overhead_ms": _median_spread(data["overhead_ms"]),
        "handled_ms": data["handled_ms"],
        "by_hand_ms": data["by_hand_ms"],
        "ratio_to_by_hand": data["handled_ms"] / data["by_hand_ms"],
        "peak_rss_mb": data["peak_rss_mb"],
        "rss_mb_after_pairs": data["rss_mb_after_pairs"],
        "rss_mb_after_total": data["rss_mb_after_total"],
        "rss_growth_mb": data["rss_mb_after_total"] - data["rss_mb_after_pairs"],
        "requests": data["requests"],
        "pairs": reps.warm_pairs,
        "secret_reads_per_1000": data["secret_reads"] * 1000 / data["requests"],
        "stdout_bytes_per_request": child.stdout_bytes / data["requests"],
    }


def render_warm(warm: dict[str, Any]) -> list[str]:
    o = warm["overhead_ms"]
    return [
        f"2. Warm overhead per request: the handler minus the same I/O by hand (a keep-alive HTTPS POST to"
        f" Intercom and the outcome event's PutEvents), n={o['n']}",
        f"   median {o['median']:.3f} ms  p99 {o['p99']:.3f} ms  (handler {warm['handled_ms']:.2f} ms,"
        f" by hand {warm['by_hand_ms']:.2f} ms: x{warm['ratio_to_by_hand']:.2f})   target < 0.5 ms median:"
        f" {_met(o['median'] < 0.5)}; < 3 ms p99: {_met(o['p99'] < 3)}",
        "",
        f"3. Memory: peak RSS {warm['peak_rss_mb']:.0f} MB after {warm['requests']} requests; "
        f"growth {warm['rss_growth_mb']:+.1f} MB from {warm['pairs']} to {warm['requests']}  "
        f"target < 110 MB, no growth: {_met(warm['peak_rss_mb'] < 110 and warm['rss_growth_mb'] < 2)}",
        "",
        f"4. Secrets Manager reads per 1,000 requests: {warm['secret_reads_per_1000']:.2f}  "
        f"(one per container per cache period: {_met(warm['secret_reads_per_1000'] * warm['requests'] / 1000 <= 1)})",
    ]


def batch(bench: Bench) -> dict[str, Any]:
    """A worker batch of 10 against one call, with Intercom answering after 100 ms."""
    command = [
        str(_runtime()),
        "-m",
        "benchmarks.child",
        "batch",
        str(bench.code()),
        str(bench.repetitions.batches),
    ]
    # The warm section before this one spends most of each of Intercom's 10-second rate-limit windows,
    # and the worker paces itself to what a window has left (section 8 measures that): the batch
    # starts in a window of its own, so that this measures the batch, not the previous section's spend.
    time.sleep(RATE_LIMIT_WINDOW_SECONDS - time.time() % RATE_LIMIT_WINDOW_SECONDS + 0.05)
    bench.sandbox.set_latency(0.1)
    try:
        data = _run_child(command, bench.worker_env, timeout=600).figures[0]
    finally:
        bench.sandbox.set_latency(0.0)
    one_call, batch_of_ten = statistics.median(data["one_call_ms"]), statistics.median(data["batch_of_10_ms"])
    return {
        "one_call_ms": _median_spread(data["one_call_ms"]),
        "batch_of_10_ms": _median_spread(data["batch_of_10_ms"]),
        "ratio_to_one_call": batch_of_ten / one_call,
        "speedup_vs_sequential": 10 * one_call / batch_of_ten,
    }


def render_batch(b: dict[str, Any]) -> list[str]:
    return [
        "5. Batch of 10 with Intercom answering after 100 ms",
        f"   one call {b['one_call_ms']['median']:.0f} ms, batch {b['batch_of_10_ms']['median']:.0f} ms: "
        f"x{b['ratio_to_one_call']:.2f} of one call, {b['speedup_vs_sequential']:.1f}x faster than sequential  "
        f"target < 2.5x: {_met(b['ratio_to_one_call'] < 2.5)}",
    ]


def package(_: Bench) -> dict[str, Any]:
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


def render_package(packages: dict[str, Any]) -> list[str]:
    return ["6. Package"] + [
        f"   {function:24s} {p['total_mb']:5.1f} MB, {p['pyc_files']} .pyc, boto3 bundled: {p['boto3_bundled']}; "
        + ", ".join(p["largest"][:4])
        for function, p in packages.items()
    ]


def local_stack(bench: Bench) -> dict[str, Any]:
    """The local stack's throughput against queue depth (benchmarks/drain.py runs its own `make run`)."""
    return drain.measure(quick=bench.repetitions == QUICK)


def render_local_stack(results: dict[str, Any]) -> list[str]:
    return drain.report(results).splitlines()


def fleet_section(bench: Bench) -> dict[str, Any]:
    """Worker containers sharing Intercom's rate limit (benchmarks/fleet.py runs its own processes)."""
    return fleet.section(quick=bench.repetitions == QUICK)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


SECTIONS = [
    Section("cold_start", cold_start, render_cold_start),
    Section("restored", restored, render_restored),
    Section("warm", warm_and_memory, render_warm),
    Section("batch", batch, render_batch),
    Section("package", package, render_package),
    Section("local_stack", local_stack, render_local_stack),
    Section("fleet", fleet_section, lambda results: fleet.report(results).splitlines()),
]


def report(results: dict[str, Any]) -> str:
    lines = [f"Intercom Contacts benchmark - {results['machine']}", results["conditions"]]
    started = results.get("section_started", {})
    if started:
        lines.append("sections measured at: " + ", ".join(f"{key} {at}" for key, at in started.items()))
    for section in SECTIONS:
        if section.key in results:
            rendered = section.render(results[section.key])
            lines += rendered if section.key == "restored" else ["", *rendered]
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
    """Make a saved run (the newest when none is named) the tracked `published.json` and `.txt`.

    A run of some sections (`--only`) replaces those sections of the published run and keeps the
    others, each with the time its run started (`section_started`)."""
    if run is None:
        saved = sorted((results_dir / RUNS).glob("*.json"))
        if not saved:
            raise FileNotFoundError(f"no run saved under {results_dir / RUNS}: run `make bench` first")
        run = saved[-1]
    target = results_dir / PUBLISHED
    results = json.loads(run.with_suffix(".json").read_text())
    keys = {section.key for section in SECTIONS}
    kept = {}
    if target.with_suffix(".json").exists():
        before = json.loads(target.with_suffix(".json").read_text())
        kept = {key: value for key, value in before.items() if key in keys and key not in results}
        started = before.get("section_started", {})
        kept["section_started"] = {key: started.get(key, before["started"]) for key in kept}
    if not kept or not kept["section_started"]:
        shutil.copyfile(run.with_suffix(".json"), target.with_suffix(".json"))
        shutil.copyfile(run.with_suffix(".txt"), target.with_suffix(".txt"))
        return target.with_suffix(".txt")
    measured = {key: results["started"] for key in keys if key in results}
    merged = {**results, **kept, "section_started": {**kept["section_started"], **measured}}
    target.with_suffix(".json").write_text(json.dumps(merged, indent=2) + "\n")
    target.with_suffix(".txt").write_text(report(merged) + "\n")
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
    parser.add_argument(
        "--only",
        default="",
        metavar="KEYS",
        help="comma-separated sections to run (" + ", ".join(s.key for s in SECTIONS) + "); default: all",
    )
    args = parser.parse_args(argv)
    chosen = [s for s in SECTIONS if not args.only or s.key in args.only.split(",")]
    if args.publish is not None:
        print(f"published {publish(Path(args.publish) if args.publish else None).relative_to(REPO)}")
        return 0
    if not (BUILD / API_FUNCTION).exists():
        print("run `sam build` first (make bench does)", file=sys.stderr)
        return 1

    from local.aws import local_moto, provision
    from local.intercom_sandbox import IntercomSandbox

    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "conditions": "As deployed: template environment (INFO logs, metrics on, JSON log format), stdout "
        "drained through a pipe, Intercom over HTTPS (sandbox certificate in a full CA bundle); "
        "AWS (moto) over plain HTTP on loopback.",
    }
    with (
        local_moto() as endpoint,
        IntercomSandbox(token=TOKEN, tls=True) as sandbox,
        tempfile.TemporaryDirectory() as scratch_dir,
    ):
        scratch = Path(scratch_dir)
        aws = provision(endpoint, token=TOKEN)
        bundle = ca_bundle(sandbox.ca_file, scratch)
        bench = Bench(
            aws=aws,
            sandbox=sandbox,
            api_env=deployed_env(API_FUNCTION, aws, sandbox, bundle, scratch),
            worker_env=deployed_env(WORKER_FUNCTION, aws, sandbox, bundle, scratch),
            scratch=scratch,
            repetitions=QUICK if args.quick else FULL,
        )
        for section in chosen:
            print(f"{section.key} ...", file=sys.stderr)
            results[section.key] = section.measure(bench)
    text = report(results)
    print(text)
    saved = save_run(results, text)
    print(
        f"\nsaved to {saved.relative_to(REPO)} (untracked); `make bench-publish` makes it the published run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
