"""`intercom-contacts import` with company and tag columns over real HTTP (issue 20): against the batch
API's stand-in (fake_batch_api.py), what each row sends and what a re-run sends again; and through the
local API gateway, the API function and the worker (in this process, against moto) into the Intercom
sandbox, what Intercom ends up holding."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.intercom_sandbox import IntercomSandbox
from tests.integration.fake_batch_api import FakeBatchApi
from tests.integration.importing import intercom_get, read_results, run_import

pytestmark = pytest.mark.usefixtures("quick_retries")

CONTENT = (
    "email,Company ID,Company Name,company.size,company.remote_created_at,Tags\n"
    "a@example.com,acme-1,Acme,12,2024-05-01,vip|beta\n"
    "b@example.com,acme-1,Acme,12,2024-05-01,\n"
    "c@example.com,,,,,beta\n"
)


def test_each_row_sends_its_company_and_its_tags_with_the_files_tags(
    api: FakeBatchApi, tmp_path: Path
) -> None:
    # Given rows with a company (or none) and tags separated by '|'
    path = tmp_path / "contacts.csv"
    path.write_text(CONTENT)
    # When the file is imported with --tag-separator '|' and --tag Imported
    assert run_import(api.url, path, "--tag-separator", "|", "--tag", "Imported") == 0
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
    assert [(r["email"], r["status"], r["company_id"], r["tags"]) for r in read_results(path)] == [
        ("a@example.com", "created", "acme-1", "vip|beta|Imported"),
        ("b@example.com", "created", "acme-1", "Imported"),
        ("c@example.com", "created", "", "beta|Imported"),
    ]


def test_a_re_run_sends_again_only_the_rows_whose_tags_changed(api: FakeBatchApi, tmp_path: Path) -> None:
    # Given a file imported once
    path = tmp_path / "contacts.csv"
    path.write_text(CONTENT)
    assert run_import(api.url, path, "--tag-separator", "|") == 0
    posts = api.posts()
    # When the same command runs again, nothing is sent
    assert run_import(api.url, path, "--tag-separator", "|") == 0
    assert api.posts() == posts
    # And when one row gains a tag, only that row is sent again, with its tags
    path.write_text(CONTENT.replace("c@example.com,,,,,beta", "c@example.com,,,,,beta|new"))
    assert run_import(api.url, path, "--tag-separator", "|") == 0
    assert api.posts() == posts + 1
    assert [(contact["email"], contact.get("tags")) for contact in api.contacts[3:]] == [
        ("c@example.com", ["beta", "new"])
    ]


def test_an_import_with_company_and_tag_columns_and_a_tag_option_attaches_and_tags_every_contact(
    api_url: str, sandbox: IntercomSandbox, tmp_path: Path
) -> None:
    # Given three contacts of one company, each with its own tags or none
    path = tmp_path / "export.csv"
    path.write_text(
        "Email,Company ID,Company Name,company.size,Tags\n"
        "ann@example.com,acme-1,Acme,40,VIP;Beta\n"
        "bo@example.com,acme-1,Acme,40,beta\n"
        "cy@example.com,acme-1,Acme,40,\n"
    )
    # When it is imported with --tag Imported
    code = run_import(api_url, path, "--tag", "Imported")
    # Then every row is created
    assert code == 0
    results = read_results(path)
    assert [(r["status"], r["company_id"], r["tags"]) for r in results] == [
        ("created", "acme-1", "VIP;Beta;Imported"),
        ("created", "acme-1", "beta;Imported"),
        ("created", "acme-1", "Imported"),
    ]
    # And Intercom holds one company with the file's fields, and one tag per name in any case
    [company] = intercom_get(sandbox, "/companies?company_id=acme-1")["data"]
    assert (company["name"], company["size"]) == ("Acme", 40)
    # (the first row the worker reaches names "beta" or "Beta": the same tag to Intercom)
    tags = {tag["name"].casefold(): tag["id"] for tag in intercom_get(sandbox, "/tags")["data"]}
    assert sorted(tags) == ["beta", "imported", "vip"]
    # And each contact is attached to it and carries its tags and Imported
    expected = {
        "ann@example.com": ["vip", "beta", "imported"],
        "bo@example.com": ["beta", "imported"],
        "cy@example.com": ["imported"],
    }
    for result in results:
        contact = intercom_get(sandbox, f"/contacts/{result['contact_id']}")
        assert [item["id"] for item in contact["companies"]["data"]] == [company["id"]]
        assert sorted(item["id"] for item in contact["tags"]["data"]) == sorted(
            tags[name] for name in expected[contact["email"]]
        )
