"""The repository stands alone: a plain clone runs, and nothing in it reaches outside it.

The sandbox once read Intercom's schemas from a folder beside the checkout, so `make test` and
`make run` failed for anyone who cloned the repository alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
THIS_FILE = Path(__file__).resolve().relative_to(REPO_ROOT).as_posix()
# Ways the code has reached outside the clone, or could: a sibling folder, the parent of the
# repository, an environment variable pointing at either, this machine's absolute paths.
OUTSIDE_REFERENCES = ("shared/intercom", "../shared", "REPO_ROOT.parent", "INTERCOM_SCHEMA_DIR", "/work/")

CREATE_A_CONTACT = """
import json, sys, urllib.request
import local.intercom_sandbox
from local.intercom_sandbox import IntercomSandbox
from local.intercom_sandbox.schemas import SCHEMA_DIR

with IntercomSandbox(token="t") as sandbox:
    request = urllib.request.Request(
        sandbox.url + "/contacts",
        data=json.dumps({"role": "user", "email": "clone@example.com"}).encode(),
        headers={"Authorization": "Bearer t", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        contact = json.load(answer)
print(json.dumps({"package": local.intercom_sandbox.__file__, "schemas": str(SCHEMA_DIR), "contact": contact}))
"""


def test_the_sandbox_runs_from_a_clone_with_nothing_beside_it(tmp_path: Path) -> None:
    # Given a clone of the committed repository, alone in an empty directory
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]
    # When the sandbox is started from it (only the clone on the path) and a contact created over HTTP
    env = {**os.environ, "PYTHONPATH": str(clone)}
    env.pop("INTERCOM_SCHEMA_DIR", None)
    run = subprocess.run(
        [sys.executable, "-c", CREATE_A_CONTACT],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it answers with the new contact, validated against the schemas inside the clone
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert Path(result["package"]).is_relative_to(clone)
    assert Path(result["schemas"]).is_relative_to(clone)
    assert result["contact"]["email"] == "clone@example.com"


def test_no_tracked_file_refers_to_a_path_outside_the_repository() -> None:
    # Given every file git tracks, but this one (which names the references it looks for)
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    # When each is searched for a reference outside the clone
    found = [
        f"{name}: {reference}"
        for name in tracked
        if name and name != THIS_FILE and (REPO_ROOT / name).is_file()
        for reference in OUTSIDE_REFERENCES
        if reference in (REPO_ROOT / name).read_text(errors="replace")
    ]
    # Then there is none
    assert found == []
