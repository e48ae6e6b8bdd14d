"""One import from start to end: read and check every row, then send the valid ones and follow them.

Nothing is sent before the whole file has been read and checked, and a duplicate's companies and tags
have gone into its first row's body (rows.py). A row whose content the last run's
results file shows done is not sent again, and one it shows pending or failed is followed in the batch
it was sent in (chunks.py: rows are known by their content). The other valid rows go out in chunks,
each with its idempotency key, while the batches already posted are followed through
`GET /contacts/batch/{id}` (the oldest few each poll: the worker drains the queue roughly in order).
A batch's outcomes go to the ledger as it completes; the results file is written from the ledger at
the end, or when the import stops part-way (Ctrl-C, an outage, a stalled batch) after reading the
run log of every batch still followed, so the summary says what the service did up to that moment.
The results file is all that is kept between runs: without it, a re-run posts the same chunks under
the same keys and the service answers with the batches it already has (for its 15 days).
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from intercom_contacts.importer import chunks, report, rows
from intercom_contacts.importer.attributes import Workspace
from intercom_contacts.importer.client import RESUME_HINT, BatchApi
from intercom_contacts.importer.ledger import PENDING, EarlierOutcome, Ledger, Outcome
from intercom_contacts.importer.mapping import ColumnMapping, RowRejected, unknown_columns
from intercom_contacts.importer.problems import ImportProblem, ImportStopped, UsageProblem
from intercom_contacts.importer.progress import Progress, Tally
from intercom_contacts.importer.scratch import LEDGER, scratch_directory
from intercom_contacts.importer.source import ContactFile
from intercom_contacts.logic.custom_attributes import article
from intercom_contacts.models.batch import BatchCounts
from intercom_contacts.models.contact import OnConflict

POLL_SECONDS = 2.0
STALL_MINUTES = 10.0  # longer than any pause of the worker for Intercom's rate limit or retries
FOLLOW_WINDOW = 10  # batches asked about per poll, oldest first
SHOW_EVERY_ROWS = 500
MAX_UNKNOWN_KEYS = 20
COUNTED = ("created", "existing", "updated", "failed", "rejected")


@dataclass(frozen=True)
class ImportOptions:
    path: Path
    mapping: ColumnMapping
    on_conflict: OnConflict = OnConflict.RETURN
    retry_failed: bool = False
    poll_seconds: float = POLL_SECONDS
    stall_minutes: float = STALL_MINUTES
    save_mapping: Path | None = None  # where to write the header's mapping, for --mapping next time
    workspace: Workspace | None = None  # the workspace's custom attributes; what --create-attributes makes

    @property
    def results_path(self) -> Path:
        return self.path.with_name(f"{self.path.name}.results.csv")


def run_import(options: ImportOptions, *, api: BatchApi | None, progress: Progress, out: TextIO) -> bool:
    """Import the file (only check it when `api` is None) and print the summary (or the dry run's report).

    True when every row was created, existing, updated or a duplicate of one (for a dry run: none was
    rejected). When the import stops part-way, the results so far and the summary are written before
    the problem is raised again.
    """
    contact_file = ContactFile.open(options.path)
    if contact_file.format == "csv":
        _show_mapping(contact_file.columns, options, out)
    workspace = options.workspace
    if workspace is not None and workspace.create:
        # one pass before the check: a missing attribute's type depends on every value of its column
        workspace.plan(
            cell
            for record in contact_file.records()
            for cell in options.mapping.attribute_cells(record.values)
        )
    with scratch_directory() as scratch, Ledger(scratch / LEDGER) as ledger:
        job = FileImport(contact_file, options, ledger, progress)
        if api is not None:
            ledger.read_earlier_results(options.results_path)
        job.read()
        progress.close(job.tally)
        if api is None:
            columns = options.mapping.workspace.report() if options.mapping.workspace else []
            out.write(report.dry_run(options.path, ledger.statuses(), ledger.rejected(), columns) + "\n")
            return job.tally.rejected == 0
        if workspace is not None:
            _create_attributes(workspace, api, out)
        try:
            job.send(api)
        except (ImportProblem, KeyboardInterrupt):
            progress.close(job.tally)
            if job.submitted or job.carried:
                job.read_run_logs(api)
                _finish(options, ledger, out, stopped=True)
            raise
        progress.close(job.tally)
        return report.succeeded(_finish(options, ledger, out))


def _create_attributes(workspace: Workspace, api: BatchApi, out: TextIO) -> None:
    """What --create-attributes planned, created before any contact is sent (their values go as text,
    and the service converts them to the type created)."""
    for name, data_type in sorted(workspace.planned.items()):
        _, created = api.create_attribute(name, data_type)
        done = "created" if created else "already in the workspace"
        out.write(f"custom_attributes.{name}: {done} as {article(data_type)} {data_type} attribute\n")


def _show_mapping(columns: tuple[str, ...], options: ImportOptions, out: TextIO) -> None:
    """A CSV header's mapping, before the file is read: a column that is not sent is named."""
    options.mapping.use_header(columns)
    out.write("\n".join(options.mapping.header_lines(columns)) + "\n")
    if options.save_mapping is not None:
        fields = options.mapping.header_fields(columns)
        options.save_mapping.write_text(json.dumps(fields, indent=2, ensure_ascii=False) + "\n")


def _finish(
    options: ImportOptions, ledger: Ledger, out: TextIO, *, stopped: bool = False
) -> Counter[tuple[str, str | None]]:
    """The results file and the summary; the statuses they count."""
    ledger.write_results(options.results_path)
    statuses = ledger.statuses()
    summary = report.summary(
        options.path, statuses, options.results_path, ledger.done_before(), stopped=stopped
    )
    out.write(summary + "\n")
    return statuses


@dataclass
class FollowedBatch:
    batch_id: str
    counts: BatchCounts
    retried: bool = False
    earlier: bool = False  # posted by an earlier run of the file


@dataclass
class FileImport:
    """The state of one import; `read()` then, unless it is a dry run, `send()`."""

    file: ContactFile
    options: ImportOptions
    ledger: Ledger
    progress: Progress
    tally: Tally = field(default_factory=Tally, init=False)
    submitted: int = field(default=0, init=False)  # chunks the service answered
    carried: int = field(default=0, init=False)  # rows an earlier run sent: done, or followed
    _locally_rejected: int = field(default=0, init=False)
    _last_change: float = field(default_factory=time.monotonic, init=False)  # of any followed batch
    _following: dict[str, FollowedBatch] = field(default_factory=dict, init=False)  # by id, not recorded

    def read(self) -> None:
        """Check every row and keep it in the ledger; UsageProblem for a file that cannot be imported."""
        mapping, tally = self.options.mapping, self.tally
        self.progress.show(tally)
        unknown: dict[str, int] = {}
        for record in self.file.records():
            tally.read += 1
            strays = [key for key in record.values if not mapping.maps(key)]
            if strays:  # JSON Lines only: a CSV header was checked as a whole
                for key in strays[: MAX_UNKNOWN_KEYS - len(unknown)]:
                    unknown.setdefault(key, record.row)
                continue
            self._keep(rows.check(record, mapping))
            if tally.read % SHOW_EVERY_ROWS == 0:
                tally.done = self.file.bytes_read / max(self.file.size, 1)
                self.progress.show(tally)
        if unknown:
            first = min(unknown.values())
            raise unknown_columns(unknown, where=f" (keys of the JSON objects; the first on line {first})")
        if tally.read == 0:
            raise UsageProblem(
                "NO_CONTACTS", f"{self.file.path} has a header row but no contacts; add one contact per row."
            )
        self.ledger.resolve(self._carried)
        self._locally_rejected = tally.rejected
        tally.done = 1.0
        self.progress.show(tally)

    def send(self, api: BatchApi) -> None:
        """Post every chunk and follow every batch to its end (retrying failed items once if asked)."""
        self.tally.phase, self.tally.done = "sending", 0.0
        self.progress.show(self.tally)
        waiting = deque(chunks.plan(self.ledger.body_sizes()))
        following = self._following
        for batch_id, counts in self.ledger.followed_batches().items():
            following[batch_id] = FollowedBatch(batch_id, counts, earlier=True)
        next_poll = time.monotonic()
        while waiting or following:
            if waiting:
                batch = self._submit(api, waiting.popleft())
                following[batch.batch_id] = batch
            if following and (not waiting or time.monotonic() >= next_poll):
                time.sleep(max(0.0, next_poll - time.monotonic()))
                self._poll(api, following)
                self._check_stalled(following)
                next_poll = time.monotonic() + self.options.poll_seconds
            self.progress.show(self.tally)
        self.tally.done = 1.0

    def read_run_logs(self, api: BatchApi) -> None:
        """After a stop: each followed batch's items as the run log has them now, so that the results and
        the summary say what the service did, not what the last poll had counted."""
        for batch in self._following.values():
            try:
                self._record(api, batch)
            except ImportProblem:  # the service is down: the results say what was known before
                return

    def _record(self, api: BatchApi, batch: FollowedBatch) -> None:
        self.ledger.record(
            batch.batch_id,
            (
                Outcome(item.index, item.status, item.contact_id, item.code, item.message)
                for item in api.items(batch.batch_id)
            ),
        )

    def _keep(self, checked: rows.CheckedRow) -> None:
        if checked.body is None:
            self.ledger.add_rejected(
                checked.row,
                checked.email,
                checked.external_id,
                str(checked.code),
                str(checked.message),
                company_id=checked.company_id,
                tags=checked.tags,
            )
            self.tally.rejected += 1
        elif (first := self.ledger.claim(checked.identities, checked.row)) is not None:
            self._merge(checked, checked.body, first)
        else:
            self.ledger.add_valid(
                checked.row,
                checked.email,
                checked.external_id,
                checked.body,
                chunks.row_key(checked.body, checked.role, self.options.on_conflict),
                company_id=checked.company_id,
                tags=checked.tags,
            )

    def _merge(self, checked: rows.CheckedRow, body: bytes, first: int) -> None:
        """A duplicate: its companies and tags go into row `first`'s body (the same role: a row's key
        depends on it), or it is rejected when they would take that row over a limit."""
        before = self.ledger.body(first)
        try:
            merged = rows.merge(before, body, first)
        except RowRejected as over:
            self.ledger.add_rejected(
                checked.row,
                checked.email,
                checked.external_id,
                over.code,
                over.message,
                company_id=checked.company_id,
                tags=checked.tags,
            )
            self.tally.rejected += 1
            return
        if merged != before:
            key = chunks.row_key(merged, checked.role, self.options.on_conflict)
            self.ledger.replace_body(first, merged, key)
        self.ledger.add_duplicate(
            checked.row,
            checked.email,
            checked.external_id,
            first,
            rows.duplicate_message(first, memberships=bool(checked.company_id or checked.tags)),
            company_id=checked.company_id,
            tags=checked.tags,
        )
        self.tally.duplicate += 1

    def _carried(self, key: str) -> EarlierOutcome | None:
        """What the last run's results say of a valid row's content, if it is not to be sent again."""
        earlier = self.ledger.earlier(key)
        # --retry-failed sends refused rows again too: what the service refused may depend on the
        # workspace (a custom attribute created since), not only on the row
        resend = self.options.retry_failed and earlier is not None and earlier.status == "rejected"
        if earlier is None or not earlier.kept or resend:
            return None
        self.carried += 1
        self.tally.queued += earlier.status != "rejected"
        if earlier.status in COUNTED:
            setattr(self.tally, earlier.status, getattr(self.tally, earlier.status) + 1)
        return earlier

    def _submit(self, api: BatchApi, chunk: chunks.Chunk) -> FollowedBatch:
        keys, bodies = zip(*self.ledger.chunk_rows(chunk), strict=True)
        accepted = api.submit(
            chunks.body(bodies),
            key=chunks.chunk_key(self.options.on_conflict, keys),
            on_conflict=self.options.on_conflict,
        )
        self.submitted += 1
        self.ledger.sent(chunk, accepted.batch_id)
        self.ledger.record(
            accepted.batch_id,
            (
                Outcome(item.index, PENDING)
                if item.status == "queued"
                else Outcome(item.index, "rejected", code=item.code, message=item.message)
                for item in accepted.items
            ),
        )
        self.tally.queued += accepted.queued
        batch = FollowedBatch(accepted.batch_id, BatchCounts(total=0))
        self._recount(
            batch, BatchCounts(total=chunk.size, pending=accepted.queued, rejected=accepted.rejected)
        )
        return batch

    def _poll(self, api: BatchApi, following: dict[str, FollowedBatch]) -> None:
        for batch in list(following.values())[:FOLLOW_WINDOW]:
            try:
                state = api.state(batch.batch_id)
            except ImportStopped as stopped:
                if not (batch.earlier and stopped.code == "BATCH_NOT_FOUND"):
                    raise
                self.ledger.expire(batch.batch_id, expired_message(batch.batch_id))
                del following[batch.batch_id]
                continue
            self._recount(batch, state.counts)
            if state.status != "completed":
                continue
            if state.counts.failed and self.options.retry_failed and not batch.retried:
                api.retry_failed(batch.batch_id)
                batch.retried = True
                continue
            self._record(api, batch)
            del following[batch.batch_id]

    def _check_stalled(self, following: dict[str, FollowedBatch]) -> None:
        """The worker drains the queue roughly in order, so the oldest batches always move while it works."""
        stalled_for = time.monotonic() - self._last_change
        if following and stalled_for > self.options.stall_minutes * 60:
            oldest = next(iter(following.values()))
            raise ImportStopped(
                "BATCH_STALLED",
                f"No row of batch {oldest.batch_id} (nor of the {len(following) - 1} other batch(es) "
                f"followed) has changed for {stalled_for / 60:.1f} minutes ({oldest.counts.pending} "
                "pending): the service's worker is not getting through its queue. Check the worker's "
                f"logs and its queue, then {RESUME_HINT} (--stall-minutes sets how long to wait).",
            )

    def _recount(self, batch: FollowedBatch, counts: BatchCounts) -> None:
        if counts != batch.counts:
            self._last_change = time.monotonic()
        for name in COUNTED:
            setattr(
                self.tally,
                name,
                getattr(self.tally, name) + getattr(counts, name) - getattr(batch.counts, name),
            )
        batch.counts = counts
        resolved = self.tally.finished + self.tally.rejected - self._locally_rejected
        self.tally.done = resolved / max(self.ledger.valid + self.carried, 1)


def expired_message(batch_id: str) -> str:
    return (
        f"The service no longer keeps batch {batch_id} (batches are kept 15 days), so what became of this "
        "row cannot be known: look for the contact in Intercom; to send it again, import it from a new file."
    )
