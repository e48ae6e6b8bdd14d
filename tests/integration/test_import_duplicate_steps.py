"""`intercom-contacts import` of a CRM export with one row per (contact, company) and per (contact, tag)
(issue 20), over real HTTP: against the batch API's stand-in (fake_batch_api.py), what is sent and what a
re-run sends again; and through the local API gateway, the API function and the worker (in this process,
against moto) into the Intercom sandbox, what Intercom ends up holding."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.intercom_sandbox import IntercomSandbox
from tests.integration.fake_batch_api import FakeBatchApi
from tests.integration.importing import intercom_get, read_results, run_import

pytestmark = pytest.mark.usefixtures("quick_retries")

# One contact in three rows (its email in another case once), each with a company and overlapping tags
EXPORT = (
    "Email,Company ID,Company Name,Tags\n"
    "ann@example.com,acme-1,Acme,VIP;Beta\n"
    "bo@example.com,acme-1,Acme,beta\n"
    "ANN@example.com,bolt-2,Bolt,beta;Churn risk\n"
    "ann@example.com,cog-3,Cog,vip;Renewal\n"
)


def test_one_contact_in_three_rows_is_sent_once_with_all_its_companies_and_tags(
    api: FakeBatchApi, tmp_path: Path
) -> None:
    # Given the export
    path = tmp_path / "export.csv"
    path.write_text(EXPORT)
    # When it is imported
    assert run_import(api.url, path) == 0
    # Then the service received one item per contact, ann's carrying her three companies and the union
    # of her tags, each once, in file order
    items = [item.contact for batch in api.batches.values() for item in batch.items]
    assert [item["email"] for item in items if item is not None] == ["ann@example.com", "bo@example.com"]
    ann = items[0]
    assert ann is not None
    assert ann["companies"] == [
        {"company_id": "acme-1", "name": "Acme"},
        {"company_id": "bolt-2", "name": "Bolt"},
        {"company_id": "cog-3", "name": "Cog"},
    ]
    assert ann["tags"] == ["VIP", "Beta", "Churn risk", "Renewal"]
    # And the results show the two repeats as duplicates with ann's contact, each with its own cells
    results = read_results(path)
    assert [(r["row"], r["status"], r["contact_id"], r["company_id"], r["tags"]) for r in results] == [
        ("2", "created", "c0", "acme-1", "VIP;Beta"),
        ("3", "created", "c1", "acme-1", "beta"),
        ("4", "duplicate", "c0", "bolt-2", "beta;Churn risk"),
        ("5", "duplicate", "c0", "cog-3", "vip;Renewal"),
    ]


def test_a_re_run_of_the_export_with_its_results_sends_nothing(api: FakeBatchApi, tmp_path: Path) -> None:
    # Given the export imported once
    path = tmp_path / "export.csv"
    path.write_text(EXPORT)
    assert run_import(api.url, path) == 0
    posts, first_results = api.posts(), read_results(path)
    # When the same command runs again, with the results file beside the export
    assert run_import(api.url, path) == 0
    # Then nothing is posted, and the results say the same of every row
    assert api.posts() == posts
    assert [(r["status"], r["contact_id"], r["row_key"]) for r in read_results(path)] == [
        (r["status"], r["contact_id"], r["row_key"]) for r in first_results
    ]


def test_the_export_leaves_the_contact_in_intercom_attached_to_each_company_with_each_tag(
    api_url: str, sandbox: IntercomSandbox, tmp_path: Path
) -> None:
    # Given the export
    path = tmp_path / "export.csv"
    path.write_text(EXPORT)
    # When it is imported through the local gateway and worker into the sandbox
    assert run_import(api_url, path) == 0
    # Then Intercom holds one ann, attached to the three companies and carrying the four tags
    everyone = intercom_get(sandbox, "/contacts")["data"]
    assert sorted(contact["email"] for contact in everyone) == ["ann@example.com", "bo@example.com"]
    [ann] = [contact for contact in everyone if contact["email"] == "ann@example.com"]
    companies = {
        company_id: intercom_get(sandbox, f"/companies?company_id={company_id}")["data"][0]["id"]
        for company_id in ("acme-1", "bolt-2", "cog-3")
    }
    tags = {tag["name"].casefold(): tag["id"] for tag in intercom_get(sandbox, "/tags")["data"]}
    contact = intercom_get(sandbox, f"/contacts/{ann['id']}")
    assert sorted(item["id"] for item in contact["companies"]["data"]) == sorted(companies.values())
    assert sorted(item["id"] for item in contact["tags"]["data"]) == sorted(
        tags[name] for name in ("vip", "beta", "churn risk", "renewal")
    )
