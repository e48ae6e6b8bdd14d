"""`intercom-contacts import` against the real local stack (`make run`'s processes): the file's results
must say, row for row, what the Intercom sandbox holds."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from tests.integration.stack import running_stack

pytestmark = pytest.mark.slow  # minutes: thousands of contacts through the local stack

REPO_ROOT = Path(__file__).resolve().parents[2]
http = urllib3.PoolManager(retries=False, timeout=30)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_stack(tmp_path_factory.mktemp("stack")) as state:
        yield state


def _import(stack: dict[str, Any], path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "intercom_contacts.cli", "import", str(path), "--poll-seconds", "1", *args],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "CONTACTS_API_URL": stack["api_url"],
            "CONTACTS_API_KEY": stack["api_key"],
            "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _sandbox(stack: dict[str, Any], path: str, body: Any = None) -> Any:
    method = "GET" if body is None else "POST"
    answer = http.request(
        method, stack["sandbox_url"] + path, body=None if body is None else json.dumps(body)
    )
    return json.loads(answer.data)


def _contacts(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {contact["id"]: contact for contact in _sandbox(stack, "/contacts")["data"]}


def _results(path: Path) -> list[dict[str, str]]:
    with Path(f"{path}.results.csv").open(newline="") as stream:
        return list(csv.DictReader(stream))


BASE, INVALID, OLD, REPEATS, VIP = 4940, 40, 20, 30, 10  # 5,000 rows in all


def _rows() -> list[dict[str, str]]:
    """Users and leads; INVALID of them with a bad email; OLD users Intercom has already; REPEATS rows
    repeating an earlier lead in capitals; VIP users with a custom attribute the workspace lacks."""
    rows = [
        {"role": "user", "email": f"u{n}@example.com", "external_id": f"ext-{n}", "tier": ""}
        if n % 2
        else {"role": "lead", "email": f"l{n}@example.com", "external_id": "", "tier": ""}
        for n in range(BASE)
    ]
    rows[100 : 100 + INVALID] = [
        {"role": "lead", "email": f"broken{n}", "external_id": "", "tier": ""} for n in range(INVALID)
    ]
    rows += [
        {"role": "user", "email": f"old{n}@example.com", "external_id": f"old-{n}", "tier": ""}
        for n in range(OLD)
    ]
    rows += [{**rows[400 + 2 * n], "email": rows[400 + 2 * n]["email"].upper()} for n in range(REPEATS)]
    rows += [
        {"role": "user", "email": f"vip{n}@example.com", "external_id": f"vip-{n}", "tier": "gold"}
        for n in range(VIP)
    ]
    return rows


def test_a_5000_row_file_ends_with_results_that_match_intercom_row_for_row(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    # Given a file of 5,000 rows (see _rows), and the users Intercom already has
    for n in range(OLD):
        http.request(
            "POST",
            stack["api_url"] + "/contacts",
            body=json.dumps({"role": "user", "email": f"old{n}@example.com", "external_id": f"old-{n}"}),
            headers={"x-api-key": stack["api_key"], "Content-Type": "application/json"},
        )
    path = tmp_path / "contacts.csv"
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, ["role", "email", "external_id", "tier"])
        writer.writeheader()
        writer.writerows(_rows())
    # And Intercom failing 5% of calls with a 500, and answering a burst of 429s
    _sandbox(stack, "/_sandbox/failure-rate", {"probability": 0.05, "status": 500, "seed": 13})
    _sandbox(stack, "/_sandbox/faults", {"kind": "fail", "status": 429, "count": 20})

    # When the file is imported (the tier column as the custom attribute it is)
    run = _import(stack, path, "--attribute", "tier:string")
    output, _ = run.communicate(timeout=1800)

    # Then it ends with some rows failed or rejected, a line per row in the results file, and progress
    # lines on the way (the output is not a terminal)
    assert run.returncode == 1, output[-2000:]
    results = _results(path)
    assert [int(result["row"]) for result in results] == list(range(2, 5002))
    created = BASE - INVALID
    assert Counter(result["status"] for result in results) == {
        "created": created,
        "existing": OLD,
        "rejected": INVALID
        + VIP,  # the VIP rows' custom attribute is not in the workspace: refused at intake
        "duplicate": REPEATS,
    }
    assert "rows/s, ETA" in output
    # And every created or existing row names a contact Intercom holds with that row's identity, and
    # Intercom holds nothing else from this file: no lead twice, no row lost
    contacts = _contacts(stack)
    done = [result for result in results if result["status"] in {"created", "existing"}]
    for result in done:
        contact = contacts[result["contact_id"]]
        assert contact["email"].lower() == result["email"].lower()
        assert (contact["external_id"] or "") == result["external_id"]
    assert {c["id"] for c in contacts.values()} == {result["contact_id"] for result in done}
    assert Counter(c["email"] for c in contacts.values()).most_common(1)[0][1] == 1
    # And each rejected row says why: the VIP rows name the custom attribute Intercom would refuse
    rejected = [result for result in results if result["status"] == "rejected"]
    assert Counter(result["code"] for result in rejected) == {"VALIDATION_ERROR": INVALID + VIP}
    assert sum("custom_attributes.tier" in result["message"] for result in rejected) == VIP

    # When the workspace gets the attribute and the import runs again with --retry-failed
    _sandbox(stack, "/_sandbox/failure-rate", {"probability": 0.0})
    _sandbox(stack, "/_sandbox/attributes", {"name": "tier"})
    again = _import(stack, path, "--attribute", "tier:string", "--retry-failed")
    output, _ = again.communicate(timeout=900)
    # Then the rows refused for the attribute are created; nothing else changed, nothing was created twice
    results = _results(path)
    assert Counter(result["status"] for result in results) == {
        "created": created + VIP,
        "existing": OLD,
        "rejected": INVALID,
        "duplicate": REPEATS,
    }, output[-2000:]
    assert len(_contacts(stack)) == len(contacts) + VIP


def test_an_interrupted_import_resumed_creates_nothing_twice(stack: dict[str, Any], tmp_path: Path) -> None:
    # Given 3,000 leads, and an import interrupted (Ctrl-C) once Intercom holds a few hundred of them
    path = tmp_path / "leads.jsonl"
    path.write_text(
        "".join(json.dumps({"role": "lead", "email": f"r{n}@example.com"}) + "\n" for n in range(3000))
    )
    before = len(_contacts(stack))
    first = _import(stack, path)
    deadline = time.monotonic() + 600
    while len(_contacts(stack)) - before < 300:
        assert first.poll() is None, "the import ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.5)
    first.send_signal(signal.SIGINT)
    output, _ = first.communicate(timeout=120)
    assert first.returncode == 130, output[-2000:]
    # When the same command runs again
    again = _import(stack, path)
    output, _ = again.communicate(timeout=1800)
    # Then it finishes, every lead exists exactly once, and every row says created
    assert again.returncode == 0, output[-2000:]
    emails = Counter(c["email"] for c in _contacts(stack).values() if c["email"].startswith("r"))
    assert len(emails) == 3000
    assert set(emails.values()) == {1}
    assert Counter(result["status"] for result in _results(path)) == {"created": 3000}


def test_a_crm_export_imports_unchanged_into_intercom(stack: dict[str, Any], tmp_path: Path) -> None:
    # Given a CRM export as it comes: its own headers, no role column, two columns with no contact field
    path = tmp_path / "export.csv"
    path.write_text(
        '"First Name","Last Name","Email","Phone Number","Company","Plan","Signup Date"\n'
        '"Ann","Lee","crm-ann@example.com","+15550100","Acme","pro","2025-01-31"\n'
        '"Bo","Ng","crm-bo@example.com","","Initech","free","2025-02-01"\n'
    )
    # When it is imported with no option
    run = _import(stack, path)
    output, _ = run.communicate(timeout=300)
    # Then it succeeds, and Intercom holds each row as a user, named, with its signup date
    assert run.returncode == 0, output[-2000:]
    results = _results(path)
    assert [result["status"] for result in results] == ["created", "created"]
    contacts = _contacts(stack)
    held = [contacts[result["contact_id"]] for result in results]
    assert [(c["role"], c["email"], c["name"], c["phone"], c["signed_up_at"]) for c in held] == [
        ("user", "crm-ann@example.com", "Ann Lee", "+15550100", 1738281600),
        ("user", "crm-bo@example.com", "Bo Ng", None, 1738368000),
    ]
    # And the output named the columns that were not sent
    assert "Not sent: Company, Plan" in output
