"""Running `intercom-contacts import` in a test, and reading the results file it writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import urllib3

from intercom_contacts import cli
from local.intercom_sandbox import IntercomSandbox
from tests.conftest import TOKEN
from tests.integration.fake_batch_api import API_KEY


def run_import(url: str, path: Path, *options: str) -> int:
    """The importer's exit code, against the batch API at `url` (the stand-in or the local gateway)."""
    return cli.main(
        ["import", str(path), "--api", url, "--api-key", API_KEY, "--poll-seconds", "0.01", *options]
    )


def read_results(path: Path) -> list[dict[str, str]]:
    with path.with_name(f"{path.name}.results.csv").open(newline="", encoding="utf-8") as results:
        return list(csv.DictReader(results))


def intercom_get(sandbox: IntercomSandbox, path: str) -> Any:
    """What the sandbox answers a GET, as Intercom's API would: what an import left in Intercom."""
    answer = urllib3.request(
        "GET",
        sandbox.url + path,
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
        retries=False,
    )
    assert answer.status == 200
    return json.loads(answer.data)
