"""A CRM export imports as it is: headers matched loosely, First and Last Name joined, columns without a
contact field named as not sent, `--map` for unusual headers; over real HTTP against the stand-in for
the batch API (fake_batch_api.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intercom_contacts import cli
from tests.integration.fake_batch_api import FakeBatchApi
from tests.integration.importing import run_import

pytestmark = pytest.mark.usefixtures("quick_retries")

CRM_EXPORT = (
    '"First Name","Last Name","Email","Phone Number","Company","Plan","Signup Date"\n'
    '"Ann","Lee","ann@example.com","+1 555 0100","Acme","pro","2025-01-31"\n'
    '"Bo","","bo@example.com","","Initech","free","2025-02-01"\n'
)


def _sent(api: FakeBatchApi) -> list[dict[str, object]]:
    return [{name: value for name, value in contact.items() if name != "id"} for contact in api.contacts]


def test_a_crm_export_imports_unchanged_with_no_option(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a CRM export, as it comes
    path = tmp_path / "export.csv"
    path.write_text(CRM_EXPORT)
    # When it is imported with no option
    code = run_import(api.url, path)
    # Then both rows are created as users, named, with the signup date in Unix seconds
    assert code == 0
    assert _sent(api) == [
        {
            "role": "user",
            "email": "ann@example.com",
            "phone": "+1 555 0100",
            "name": "Ann Lee",
            "signed_up_at": 1738281600,
        },
        {"role": "user", "email": "bo@example.com", "name": "Bo", "signed_up_at": 1738368000},
    ]
    # And the mapping printed first named every column, Company and Plan as not sent
    out = capsys.readouterr().out
    assert "  Company       -> not sent" in out
    assert "  Signup Date   -> signed_up_at (date, sent as Unix seconds)" in out
    assert "Not sent: Company, Plan" in out
    assert out.index("Columns:") < out.index("Results, row by row")


def test_a_dry_run_prints_the_mapping_and_sends_nothing(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(CRM_EXPORT)
    assert cli.main(["import", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  First Name    -> name (first part)" in out
    assert "(no role column: every row is a user; pass --role lead for leads)" in out
    assert "2 rows, 2 valid, 0 rejected. Nothing was sent (--dry-run)." in out
    assert api.requests == []


def test_unusual_headers_import_with_map_alone_and_the_mapping_saved_is_reused(
    api: FakeBatchApi, tmp_path: Path
) -> None:
    # Given a file whose headers nothing matches loosely
    path = tmp_path / "contacts.csv"
    path.write_text("Courriel;Genre;Forfait\nann@example.com;lead;pro\n")
    # When it is imported with --map for each column, saving the mapping
    saved = tmp_path / "mapping.json"
    code = run_import(
        api.url,
        path,
        "--map",
        "Courriel=email",
        "--map",
        "Genre=role",
        "--map",
        "Forfait=ignore",
        "--save-mapping",
        str(saved),
    )
    # Then the row is sent as mapped, and the saved mapping says so
    assert code == 0
    assert _sent(api) == [{"role": "lead", "email": "ann@example.com"}]
    assert json.loads(saved.read_text()) == {"Courriel": "email", "Genre": "role", "Forfait": "ignore"}
    # When another file with the same headers is imported with --mapping alone
    other = tmp_path / "more.csv"
    other.write_text("Courriel;Genre;Forfait\nbo@example.com;lead;free\n")
    assert run_import(api.url, other, "--mapping", str(saved)) == 0
    # Then it is sent the same way
    assert _sent(api)[-1] == {"role": "lead", "email": "bo@example.com"}
