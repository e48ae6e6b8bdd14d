"""`make bench` leaves the work tree clean: a run is saved where git does not look, and only a
deliberate `make bench-publish` writes the tracked copy the docs quote. Runs no benchmark."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from benchmarks.run import PUBLISHED, RESULTS, RUNS, publish, save_run

REPO_ROOT = Path(__file__).resolve().parents[2]
A_RUN = {"started": "2026-11-25T08:00:00Z", "machine": "2 cores"}


def test_a_run_writes_only_under_the_runs_directory(tmp_path: Path) -> None:
    # When a run's results are saved
    saved = save_run(A_RUN, "the table", results_dir=tmp_path)
    # Then every file written is under runs/, and nothing is published
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert written
    assert all(path.is_relative_to(tmp_path / RUNS) for path in written)
    assert saved.read_text().startswith("{")
    assert not list(tmp_path.glob(f"{PUBLISHED}.*"))


def test_the_runs_directory_is_ignored_and_holds_nothing_tracked() -> None:
    # Given where a plain run saves its results in this repository
    runs = (RESULTS / RUNS).relative_to(REPO_ROOT)
    # Then git ignores what lands there, and tracks nothing there
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", f"{runs.as_posix()}/2026-11-25T080000Z.json"],
        cwd=REPO_ROOT,
        check=False,
    )
    assert ignored.returncode == 0
    tracked = subprocess.run(
        ["git", "ls-files", runs.as_posix()], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""


def test_publishing_copies_the_newest_run_to_the_tracked_files(tmp_path: Path) -> None:
    # Given two saved runs
    save_run({**A_RUN, "started": "2026-11-24T08:00:00Z"}, "older", results_dir=tmp_path)
    save_run(A_RUN, "newer", results_dir=tmp_path)
    # When a run is published without naming one
    published = publish(results_dir=tmp_path)
    # Then the newest one is the published table
    assert published == tmp_path / f"{PUBLISHED}.txt"
    assert published.read_text() == "newer\n"
    assert (tmp_path / f"{PUBLISHED}.json").exists()


def test_publishing_a_partial_run_keeps_the_sections_it_did_not_measure(tmp_path: Path) -> None:
    # Given a published run with a package section and a SnapStart section
    package = {"api": {"total_mb": 16.7, "pyc_files": 525, "boto3_bundled": False, "largest": ["boto3"]}}
    full = {**A_RUN, "started": "2026-11-24T08:00:00Z", "package": package, "conditions": "as deployed"}
    full["restored"] = {"median": 47.0, "p25": 43.0, "p75": 59.0}
    publish(save_run(full, "full", results_dir=tmp_path), results_dir=tmp_path)
    # When a run of the SnapStart section alone is published
    partial = {**A_RUN, "conditions": "as deployed", "restored": {"median": 40.0, "p25": 39.0, "p75": 41.0}}
    published = publish(save_run(partial, "partial", results_dir=tmp_path), results_dir=tmp_path)
    # Then the published run has the new SnapStart figures, the older package figures, and says when
    # each was measured
    merged = json.loads(published.with_suffix(".json").read_text())
    assert merged["restored"]["median"] == 40.0
    assert merged["package"] == package
    assert merged["section_started"] == {"package": "2026-11-24T08:00:00Z", "restored": A_RUN["started"]}
    text = published.read_text()
    assert "median 40 ms" in text
    assert "16.7 MB" in text
