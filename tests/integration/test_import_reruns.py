"""Running an import again sends only what changed: rows are known by their own content, and the results
file of the last run says which are done, so a file fixed in place does not create its leads twice, even
after the service has forgotten its batches; over real HTTP against fake_batch_api.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.integration.fake_batch_api import FakeBatchApi
from tests.integration.importing import read_results, run_import

pytestmark = pytest.mark.usefixtures("quick_retries")

LEADS = "role,email,name\n" + "".join(f"lead,lead{n}@example.com,Lead {n}\n" for n in range(5))


def _forget_batches(api: FakeBatchApi) -> None:
    """What the service holds after its 15 days' retention: no batch, no idempotency key."""
    api.batches.clear()
    api.by_key.clear()


@pytest.mark.parametrize("forgotten", [False, True], ids=["within retention", "after retention"])
def test_a_file_fixed_in_place_sends_only_the_fixed_row(
    api: FakeBatchApi, tmp_path: Path, forgotten: bool
) -> None:
    # Given five leads and a row with an invalid email, imported once
    path = tmp_path / "leads.csv"
    path.write_text(LEADS + "lead,broken,Broken\n")
    assert run_import(api.url, path) == 1
    assert len(api.contacts) == 5
    if forgotten:
        _forget_batches(api)
    # When the rejected row is fixed in place and the same command runs again
    path.write_text(LEADS + "lead,fixed@example.com,Fixed\n")
    code = run_import(api.url, path)
    # Then only the fixed row was sent: Intercom holds six leads, each once
    assert code == 0
    assert sorted(contact["email"] for contact in api.contacts) == sorted(
        [f"lead{n}@example.com" for n in range(5)] + ["fixed@example.com"]
    )
    # And the results show every row created, each with its contact
    results = read_results(path)
    assert Counter(row["status"] for row in results) == {"created": 6}
    assert sorted(row["contact_id"] for row in results) == sorted(contact["id"] for contact in api.contacts)


def test_a_row_inserted_before_others_does_not_send_them_again(api: FakeBatchApi, tmp_path: Path) -> None:
    # Given 1,500 leads imported once (two batches)
    path = tmp_path / "leads.csv"
    rows = [f"lead,l{n}@example.com,\n" for n in range(1500)]
    path.write_text("role,email,name\n" + "".join(rows))
    assert run_import(api.url, path) == 0
    # When a lead is inserted at the top of the file and the same command runs again
    path.write_text("role,email,name\nlead,new@example.com,\n" + "".join(rows))
    assert run_import(api.url, path) == 0
    # Then only the new lead was created, and every row says created with its own contact
    assert len(api.contacts) == 1501
    assert Counter(contact["email"] for contact in api.contacts).most_common(1)[0][1] == 1
    results = read_results(path)
    assert Counter(row["status"] for row in results) == {"created": 1501}
    held = {contact["id"]: contact["email"] for contact in api.contacts}
    assert all(held[row["contact_id"]] == row["email"] for row in results)


def test_a_pending_row_whose_batch_the_service_forgot_is_not_sent_again(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an import stopped while its rows were pending (the worker stalled)
    path = tmp_path / "leads.csv"
    path.write_text(LEADS)
    api.paused = True
    assert run_import(api.url, path, "--stall-minutes", "0.0001") == 1
    # When the service has forgotten the batch and the same command runs again
    _forget_batches(api)
    api.paused = False
    code = run_import(api.url, path)
    # Then nothing is sent again (those leads may exist), and the results say why and what to do
    assert code == 1
    assert api.contacts == []
    assert {(row["status"], row["code"]) for row in read_results(path)} == {("pending", "BATCH_EXPIRED")}
    assert "BATCH_EXPIRED 5" in capsys.readouterr().out
