"""The Makefile's verbs as a person runs them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.integration.stack import REPO_ROOT


def test_make_import_names_the_tools_own_exit_code(tmp_path: Path) -> None:
    # Given a file whose only row is rejected: the tool exits 1, which make turns into its own 2
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("role,email\nlead,not-an-email\n")
    # When it is checked with make import
    run = subprocess.run(
        ["make", "-s", "import", f"FILE={contacts}", "ARGS=--dry-run"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then make fails, and says which code the tool answered and how to get it
    assert run.returncode == 2
    assert "make import: intercom-contacts exited with 1" in run.stderr
    assert ".venv/bin/intercom-contacts import" in run.stderr
