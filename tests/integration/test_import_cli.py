"""`intercom-contacts import` end to end over real HTTP, against a stand-in for the batch API
(fake_batch_api.py): posting, retries on 503/429/5xx, following, paging, --retry-failed, resuming after
an outage or a Ctrl-C, exit codes, and files refused before anything is sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from intercom_contacts import cli
from intercom_contacts.importer.scratch import LEDGER, remove_abandoned, scratch_directory
from tests.integration.fake_batch_api import API_KEY, FakeBatchApi
from tests.integration.importing import read_results, run_import

pytestmark = pytest.mark.usefixtures("quick_retries")

REPO_ROOT = Path(__file__).resolve().parents[2]


def _contacts_file(tmp_path: Path, count: int, *, extra: list[str] | None = None) -> Path:
    """`count` contacts, alternately leads and users, then any extra lines."""
    lines = ["role,email,name,external_id,signed_up_at"]
    for n in range(count):
        role = "user" if n % 2 else "lead"
        lines.append(f"{role},p{n}@example.com,Person {n},{f'u-{n}' if role == 'user' else ''},2024-05-01")
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join([*lines, *(extra or [])]) + "\n")
    return path


def _assert_results_match_intercom(results: list[dict[str, str]], api: FakeBatchApi) -> None:
    """Row for row: each created row is one contact Intercom holds, and Intercom holds nothing else."""
    held = {contact["id"]: contact for contact in api.contacts}
    created = [row for row in results if row["status"] == "created"]
    assert sorted(row["contact_id"] for row in created) == sorted(held)
    for row in created:
        assert held[row["contact_id"]]["email"] == row["email"]
    assert max(api.queued.values()) == 1  # no item was ever queued twice


def test_a_file_with_bad_rows_duplicates_and_faults_ends_with_results_that_match_intercom(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 2,500 good rows (three chunks), then an invalid email, a date that does not convert, a lead
    # repeating row 2, a user repeating row 3's external_id, one that fails for good, one existing user
    extra = [
        "lead,not-an-email,Bad,,",
        "lead,q@example.com,Bad date,,yesterday",
        "lead,P0@example.com,Lead again,,",
        "user,other@example.com,User again,u-1,",
        "lead,fail@example.com,Fails,,",
        "user,exists@example.com,Exists,u-x,",
    ]
    path = _contacts_file(tmp_path, 2500, extra=extra)
    # And a service that answers 503, 429 and 500 first, refuses to queue part of a batch once, answers
    # pages of 300 items, and whose worker finishes 700 items of a batch per poll
    api.faults.extend([503, 429, 500])
    api.queue_refusals = 1
    api.max_page, api.per_poll = 300, 700
    # When the file is imported
    code = run_import(api.url, path)
    # Then the import says some rows did not make it
    assert code == 1
    results = read_results(path)
    # And the results have one line per row, in order, saying what became of it
    assert [int(row["row"]) for row in results] == list(range(2, 2508))
    by_row = {int(row["row"]): row for row in results}
    assert [(by_row[n]["status"], by_row[n]["code"]) for n in range(2502, 2508)] == [
        ("rejected", "VALIDATION_ERROR"),
        ("rejected", "INVALID_VALUE"),
        ("duplicate", ""),
        ("duplicate", ""),
        ("failed", "INTERCOM_UNAVAILABLE"),
        ("existing", ""),
    ]
    assert "row 2" in by_row[2504]["message"]
    assert Counter(row["status"] for row in results) == {
        "created": 2500,
        "rejected": 2,
        "duplicate": 2,
        "failed": 1,
        "existing": 1,
    }
    # And they match what Intercom holds, row for row, with nothing queued twice
    _assert_results_match_intercom(results, api)
    # And the summary counts each status and the progress went to stderr as plain lines
    out, err = capsys.readouterr()
    assert "created        2,500" in out
    assert "rejected           2 (INVALID_VALUE 1, VALIDATION_ERROR 1)" in out
    assert "duplicate          2" in out
    assert (
        "sending 100%: read 2506, queued 2502, created 2500, existing 1, updated 0, failed 1, rejected 2, "
        "duplicate 2" in err
    )


def test_a_file_whose_rows_are_all_created_exits_0(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import(api.url, _contacts_file(tmp_path, 10)) == 0
    assert "Results, row by row:" in capsys.readouterr().out


def test_json_lines_are_imported_like_csv(api: FakeBatchApi, tmp_path: Path) -> None:
    # Given JSON Lines with a custom attribute typed on the command line
    path = tmp_path / "contacts.jsonl"
    path.write_text(
        '{"role": "lead", "email": "a@example.com", "custom_attributes": {"seats": "3"}}\n'
        '{"role": "user", "external_id": 42}\n'
    )
    # When it is imported
    code = run_import(api.url, path, "--attribute", "custom_attributes.seats:integer")
    # Then both are created, with the values converted
    assert code == 0
    assert [{k: v for k, v in c.items() if k != "id"} for c in api.contacts] == [
        {"role": "lead", "email": "a@example.com", "custom_attributes": {"seats": 3}},
        {"role": "user", "external_id": "42"},
    ]


def test_retry_failed_sends_failed_rows_back_and_follows_them(api: FakeBatchApi, tmp_path: Path) -> None:
    # Given rows that fail once, and one that always fails
    path = _contacts_file(
        tmp_path,
        3,
        extra=["lead,flaky1@example.com,,,", "lead,flaky2@example.com,,,", "lead,fail@example.com,,,"],
    )
    # When it is imported with --retry-failed
    code = run_import(api.url, path, "--retry-failed")
    # Then the batch's failed rows were retried once: the flaky ones were created, the other failed again
    assert [path for method, path in api.requests if path.endswith("/retry")] != []
    statuses = {row["email"]: row["status"] for row in read_results(path)}
    assert (statuses["flaky1@example.com"], statuses["flaky2@example.com"]) == ("created", "created")
    assert statuses["fail@example.com"] == "failed"
    assert code == 1
    _assert_results_match_intercom(read_results(path), api)


def test_without_retry_failed_failed_rows_stay_failed_and_the_summary_says_what_to_do(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _contacts_file(tmp_path, 1, extra=["lead,flaky@example.com,,,"])
    assert run_import(api.url, path) == 1
    assert not [path for _, path in api.requests if path.endswith("/retry")]
    assert "run the same command with --retry-failed" in capsys.readouterr().out


def test_an_import_stopped_by_an_outage_resumes_and_queues_nothing_twice(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 2,500 rows (three chunks), and a service that goes down after the first chunk is posted
    path = _contacts_file(tmp_path, 2500)
    api.down_after_posts = 1
    # When the file is imported, the import stops, saying how to resume
    assert run_import(api.url, path) == 1
    assert "SERVICE_UNAVAILABLE" in capsys.readouterr().err
    # And the results so far say what became of the first chunk, and which rows were never sent
    assert Counter(row["status"] for row in read_results(path)) == {"created": 1000, "not_sent": 1500}
    # When the service is back and the same command runs again
    api.down_after_posts = None
    code = run_import(api.url, path)
    # Then every row is created once: the first chunk was answered with its batch, not queued again
    assert code == 0
    assert Counter(row["status"] for row in read_results(path)) == {"created": 2500}
    assert len(api.batches) == 3
    _assert_results_match_intercom(read_results(path), api)


def test_an_import_interrupted_with_ctrl_c_resumes_and_creates_nothing_twice(
    api: FakeBatchApi, tmp_path: Path
) -> None:
    # Given 2,500 rows and a worker that makes no progress yet
    path = _contacts_file(tmp_path, 2500)
    api.paused = True
    # When the command runs in its own process and gets SIGINT once the chunks are posted
    command = [sys.executable, "-m", "intercom_contacts.cli", "import", str(path), "--api", api.url]
    process = subprocess.Popen(
        [*command, "--api-key", API_KEY, "--poll-seconds", "0.05"],
        env={**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _following_all(api, chunks=3) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    # Then it stops as interrupted, saying how to resume, with the results so far
    assert process.returncode == 130, err
    assert "Interrupted. Run the same command again" in err
    assert Counter(row["status"] for row in read_results(path)) == {"pending": 2500}
    # When the worker catches up and the same command runs again
    api.paused = False
    # Then every row is created once
    assert run_import(api.url, path) == 0
    assert len(api.batches) == 3
    _assert_results_match_intercom(read_results(path), api)


def _following_all(api: FakeBatchApi, *, chunks: int) -> bool:
    """Every chunk posted and answered: the importer has asked about a batch since the last POST."""
    methods = [method for method, _ in api.requests]
    return methods.count("POST") >= chunks and methods[-1] == "GET"


def test_a_refused_api_key_is_a_usage_error_and_queues_nothing(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["import", str(_contacts_file(tmp_path, 3)), "--api", api.url, "--api-key", "wrong"])
    assert code == 2
    assert "API_KEY_REFUSED" in capsys.readouterr().err
    assert not api.queued


def test_a_service_without_the_run_log_stops_the_import_saying_what_to_deploy(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployment whose batch endpoint does not answer a batch_id
    api.run_log = False
    # When a file is imported, it stops after the first chunk, saying why and what to do
    assert run_import(api.url, _contacts_file(tmp_path, 3)) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("NO_RUN_LOG: ")
    assert api.posts() == 1


def test_a_dry_run_prints_every_problem_and_sends_nothing(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file with a bad row
    path = _contacts_file(tmp_path, 3, extra=["lead,bad,,,"])
    # When it is checked with --dry-run (no service needed)
    code = cli.main(["import", str(path), "--dry-run"])
    # Then the report lists the problem and the totals, and nothing was sent or written
    out = capsys.readouterr().out
    assert code == 1
    assert "row 5: VALIDATION_ERROR Invalid fields: email is not a valid email address." in out
    assert "4 rows, 3 valid, 1 rejected (VALIDATION_ERROR 1). Nothing was sent (--dry-run)." in out
    assert api.requests == []
    assert not path.with_name(f"{path.name}.results.csv").exists()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "EMPTY_FILE"),
        (b"role,email,name\n", "NO_CONTACTS"),
        (b"role\temail\nlead\ta@example.com\n", "WRONG_DELIMITER"),
        ("role,email,name\nlead,a@example.com,Ren\xe9\n".encode("latin-1"), "NOT_UTF8"),
        (b"role,email,E-mail\nlead,a@example.com,b@example.com\n", "AMBIGUOUS_COLUMNS"),
    ],
)
def test_odd_files_are_refused_with_exit_2_before_anything_is_sent(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, code: str
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(content)
    assert run_import(api.url, path) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"{code}: ")
    assert api.requests == []


def test_a_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["import", str(tmp_path / "contacts.csv"), "--role", "admin"])
    assert exit_.value.code == 2


def _peak_rss_kb(api: FakeBatchApi, path: Path) -> int:
    """Import `path` in a process of its own and return that process's peak resident memory."""
    script = (
        "import resource, sys\n"
        "from intercom_contacts import cli\n"
        "code = cli.main(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "import",
            str(path),
            "--api",
            api.url,
            "--api-key",
            API_KEY,
            "--poll-seconds",
            "0.2",
        ],
        env={**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return int(finished.stderr.splitlines()[-1])


@pytest.mark.slow
def test_a_million_row_file_of_100_mb_is_imported_in_flat_memory(api: FakeBatchApi, tmp_path: Path) -> None:
    # Given a 10,000-row file and a million-row file of rows shaped alike (about 100 MB), other people in
    # each (rows are known by their content: the same rows again would be the same contacts)
    header = "role,email,name,external_id,signed_up_at,custom_attributes.plan,phone\n"
    row = "{role},{who}{n}@example.com,Person Number {n},{who}-{n:08d},2024-05-01T10:00:00Z,plan-{plan},+1555{n:07d}\n"
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    for path, count, who in ((small, 10_000, "small"), (large, 1_000_000, "person")):
        with path.open("w") as out:
            out.write(header)
            out.writelines(
                row.format(role="user" if n % 3 else "lead", n=n, plan=n % 7, who=who) for n in range(count)
            )
    assert large.stat().st_size > 100_000_000
    # When each is imported
    small_peak, large_peak = _peak_rss_kb(api, small), _peak_rss_kb(api, large)
    # Then every row is created once, and the large import needed hardly more memory than the small one
    assert len(api.contacts) == 1_010_000
    with large.with_name("large.csv.results.csv").open() as results:
        assert sum(1 for _ in results) == 1_000_001
    assert max(api.queued.values()) == 1
    assert large_peak - small_peak < 30_000, (small_peak, large_peak)


def test_a_row_repeating_an_earlier_one_is_a_duplicate_with_its_contact_and_no_failure(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a clean file whose row 4 repeats row 2's lead (email in capitals) and row 5 row 3's user
    path = _contacts_file(
        tmp_path, 2, extra=["lead,P0@EXAMPLE.COM,Lead again,,", "user,other@example.com,User again,u-1,"]
    )
    # When it is imported
    code = run_import(api.url, path)
    # Then the import succeeds: the repeats are the same contacts, sent once
    assert code == 0
    results = {int(row["row"]): row for row in read_results(path)}
    assert [(results[n]["status"], results[n]["code"]) for n in (4, 5)] == [
        ("duplicate", ""),
        ("duplicate", ""),
    ]
    # And each names its first row's contact, which Intercom holds once
    assert results[4]["contact_id"] == results[2]["contact_id"] != ""
    assert results[5]["contact_id"] == results[3]["contact_id"] != ""
    assert "row 2" in results[4]["message"]
    assert len(api.contacts) == 2
    # And the summary counts them as duplicates, without telling the user to fix anything
    out = capsys.readouterr().out
    assert "duplicate          2" in out
    assert "fix them" not in out


def test_the_scratch_directory_of_a_killed_import_is_removed_by_the_next_run(
    api: FakeBatchApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an import killed with SIGKILL while it follows its batches, its scratch directory left behind
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    path = _contacts_file(tmp_path, 2500)
    api.paused = True
    command = [sys.executable, "-m", "intercom_contacts.cli", "import", str(path), "--api", api.url]
    process = subprocess.Popen(
        [*command, "--api-key", API_KEY, "--poll-seconds", "0.05"],
        env={
            **os.environ,
            "TMPDIR": str(scratch),
            "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not _following_all(api, chunks=3) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=30)
    assert [p.name for p in scratch.glob("intercom-contacts-import-*/rows.sqlite")] == ["rows.sqlite"]
    # When the same command runs again (the worker caught up)
    api.paused = False
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert run_import(api.url, path) == 0
    # Then no scratch directory is left in the temp directory
    assert list(scratch.iterdir()) == []


def test_a_running_imports_scratch_directory_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the scratch directory of an import that is still running
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with scratch_directory() as running:
        (running / LEDGER).write_bytes(b"rows")
        # When another import removes abandoned ones
        remove_abandoned()
        # Then this one is still there
        assert (running / LEDGER).exists()


def test_a_batch_still_in_progress_409_is_retried_and_the_import_completes(
    api: FakeBatchApi, tmp_path: Path
) -> None:
    # Given a service that answers the first POSTs "409 REQUEST_IN_PROGRESS: retry in a few seconds"
    api.faults.extend([(409, "REQUEST_IN_PROGRESS"), (409, "REQUEST_IN_PROGRESS")])
    path = _contacts_file(tmp_path, 5)
    # When the file is imported
    code = run_import(api.url, path)
    # Then the POST was repeated until queued, and every row was created once
    assert code == 0
    assert api.posts() == 3
    assert Counter(row["status"] for row in read_results(path)) == {"created": 5}
    _assert_results_match_intercom(read_results(path), api)


def test_a_409_in_progress_that_outlasts_every_retry_stops_saying_to_wait(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a service that answers 409 REQUEST_IN_PROGRESS to more attempts than the retries allow
    api.faults.extend([(409, "REQUEST_IN_PROGRESS")] * 10)
    # When a file is imported
    code = run_import(api.url, _contacts_file(tmp_path, 5))
    # Then it stops with exit 1 and the code, saying to wait and run it again
    assert code == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("REQUEST_IN_PROGRESS: ")
    assert "wait a minute, then run the same command again" in last


def test_a_batch_with_no_progress_for_the_stall_time_stops_the_import_saying_so(
    api: FakeBatchApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a worker that makes no progress, and a stall time of a few milliseconds
    api.paused = True
    path = _contacts_file(tmp_path, 5)
    # When the file is imported
    code = run_import(api.url, path, "--stall-minutes", "0.0001")
    # Then the import stops with exit 1, naming the stalled batch and what to check
    assert code == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("BATCH_STALLED: ")
    assert next(iter(api.batches)) in last
    # And the results say the rows are pending
    assert Counter(row["status"] for row in read_results(path)) == {"pending": 5}


def test_the_summary_after_ctrl_c_says_what_the_run_log_holds_at_that_moment(
    api: FakeBatchApi, tmp_path: Path
) -> None:
    # Given 2,500 rows (three batches), and a worker that finishes 100 rows of a batch each time it is
    # asked about and stops at 300: none of the batches completes
    path = _contacts_file(tmp_path, 2500)
    api.per_poll, api.worker_limit = 100, 300
    # When the command gets SIGINT once Intercom holds those 300
    command = [sys.executable, "-m", "intercom_contacts.cli", "import", str(path), "--api", api.url]
    process = subprocess.Popen(
        [*command, "--api-key", API_KEY, "--poll-seconds", "0.05"],
        env={**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(api.contacts) < 300 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    # Then the results and the summary count the 300 rows Intercom holds as created, the rest as pending
    results = read_results(path)
    assert Counter(row["status"] for row in results) == {"created": 300, "pending": 2200}
    assert "  created          300\n" in out
    _assert_results_match_intercom(results, api)
