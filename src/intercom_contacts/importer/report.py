"""What the import prints when it is done: the dry run's report, or the summary of what the service did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

STATUS_ORDER = ("created", "existing", "updated", "duplicate", "failed", "rejected", "pending", "not_sent")
ALWAYS_SHOWN = {"created", "existing", "updated", "failed", "rejected"}
SUCCESSFUL = {"created", "existing", "updated", "duplicate"}


def succeeded(statuses: Counter[tuple[str, str | None]]) -> bool:
    return all(status in SUCCESSFUL for status, _ in +statuses)


def dry_run(
    path: Path,
    statuses: Counter[tuple[str, str | None]],
    rejected: Iterable[tuple[int, str, str]],
    columns: Sequence[str] = (),
) -> str:
    """Each rejected row with its reason, then what was found for whole columns (`columns`: once, however
    many rows they refused), then the counts."""
    lines = [f"row {row}: {code} {message}" for row, code, message in rejected]
    lines.extend(columns)
    total = sum(statuses.values())
    refused = sum(count for (status, _), count in statuses.items() if status == "rejected")
    repeated = sum(count for (status, _), count in statuses.items() if status == "duplicate")
    codes = _codes(statuses, "rejected")
    duplicates = f", {repeated:,} duplicate (not sent again)" if repeated else ""
    lines.append(
        f"{path}: {total:,} rows, {total - refused - repeated:,} valid{duplicates}, {refused:,} rejected"
        f"{codes}. Nothing was sent (--dry-run)."
    )
    return "\n".join(lines)


def summary(
    path: Path,
    statuses: Counter[tuple[str, str | None]],
    results: Path | None,
    done_before: int = 0,
    *,
    stopped: bool = False,
) -> str:
    by_status = Counter[str]()
    for (status, _), count in statuses.items():
        by_status[status] += count
    lines = [f"{path}: {sum(by_status.values()):,} rows"]
    for status in STATUS_ORDER:
        if status in ALWAYS_SHOWN or by_status[status]:
            lines.append(
                f"  {status.replace('_', ' '):<9} {by_status[status]:>10,}{_codes(statuses, status)}"
            )
    if done_before:
        lines.append(f"{done_before:,} of them were done by an earlier run of this file and not sent again.")
    if results is not None:
        lines.append(f"Results, row by row: {results}")
    if by_status["failed"] and not stopped:
        lines.append(
            "Failed rows are in the service's dead-letter queue with their reason (the code above): fix the "
            "cause, then run the same command with --retry-failed."
        )
    if by_status["rejected"]:
        lines.append(
            "Rejected rows were not sent: fix them in the file (see the results file) and run the same "
            "command again; only rows not yet done are sent."
        )
    return "\n".join(lines)


def _codes(statuses: Counter[tuple[str, str | None]], status: str) -> str:
    codes = Counter({code: count for (kind, code), count in statuses.items() if kind == status and code})
    return f" ({', '.join(f'{code} {count:,}' for code, count in codes.most_common())})" if codes else ""
