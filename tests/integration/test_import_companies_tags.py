"""`intercom-contacts import` with company and tag columns over real HTTP (issue 20): against the batch
API's stand-in (fake_batch_api.py), what each row sends and what a re-run sends again."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from intercom_contacts import cli
from intercom_contacts.importer import client
from tests.integration.fake_batch_api import API_KEY, FakeBatchApi

CONTENT = (
    "email,Company ID,Company Name,company.size,company.remote_created_at,Tags\n"
    "a@example.com,acme-1,Acme,12,2024-05-01,vip|beta\n"
    "b@example.com,acme-1,Acme,12,2024-05-01,\n"
    "c@example.com,,,,,beta\n"
)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "RETRY", client.RETRY.new(total=5, backoff_factor=0))


@pytest.fixture
def api() -> Iterator[FakeBatchApi]:
    with FakeBatchApi() as server:
        yield server


def _import(api: FakeBatchApi, path: Path, *options: str) -> int:
    return cli.main(
        ["import", str(path), "--api", api.url, "--api-key", API_KEY, "--poll-seconds", "0.01", *options]
    )


def _results(path: Path) -> list[dict[str, str]]:
    with path.with_name(f"{path.name}.results.csv").open(newline="", encoding="utf-8") as results:
        return list(csv.DictReader(results))


def test_each_row_sends_its_company_and_its_tags_with_the_files_tags(
    api: FakeBatchApi, tmp_path: Path
) -> None:
    # Given rows with a company (or none) and tags separated by '|'
    path = tmp_path / "contacts.csv"
    path.write_text(CONTENT)
    # When the file is imported with --tag-separator '|' and --tag Imported
    assert _import(api, path, "--tag-separator", "|", "--tag", "Imported") == 0
    # Then the API received each row's company, typed, and its tags with Imported
    company = {"company_id": "acme-1", "name": "Acme", "size": 12, "remote_created_at": 1714521600}
    sent = {contact["email"]: contact for contact in api.contacts}
    assert sent["a@example.com"]["companies"] == [company]
    assert sent["a@example.com"]["tags"] == ["vip", "beta", "Imported"]
    assert sent["b@example.com"]["companies"] == [company]
    assert sent["b@example.com"]["tags"] == ["Imported"]
    assert "companies" not in sent["c@example.com"]
    assert sent["c@example.com"]["tags"] == ["beta", "Imported"]
    # And the results show each row's company_id and tags, joined with '|'
    assert [(r["email"], r["status"], r["company_id"], r["tags"]) for r in _results(path)] == [
        ("a@example.com", "created", "acme-1", "vip|beta|Imported"),
        ("b@example.com", "created", "acme-1", "Imported"),
        ("c@example.com", "created", "", "beta|Imported"),
    ]


def test_a_re_run_sends_again_only_the_rows_whose_tags_changed(api: FakeBatchApi, tmp_path: Path) -> None:
    # Given a file imported once
    path = tmp_path / "contacts.csv"
    path.write_text(CONTENT)
    assert _import(api, path, "--tag-separator", "|") == 0
    posts = api.posts()
    # When the same command runs again, nothing is sent
    assert _import(api, path, "--tag-separator", "|") == 0
    assert api.posts() == posts
    # And when one row gains a tag, only that row is sent again, with its tags
    path.write_text(CONTENT.replace("c@example.com,,,,,beta", "c@example.com,,,,,beta|new"))
    assert _import(api, path, "--tag-separator", "|") == 0
    assert api.posts() == posts + 1
    assert [(contact["email"], contact.get("tags")) for contact in api.contacts[3:]] == [
        ("c@example.com", ["beta", "new"])
    ]
