"""`intercom-contacts`: the service's command line. `import` sends a CSV or JSON Lines file of contacts
through the batch API, with a live progress bar and a results file (README, "Import a file").

Exit codes: 0 every row created, existing, updated or a duplicate of one; 1 some failed or were
rejected, or the import stopped part-way (run the same command again to resume: rows already done
are not sent again); 2 a usage or file problem, nothing sent; 130 interrupted (Ctrl-C; resume the
same way).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from intercom_contacts.importer import target
from intercom_contacts.importer.attributes import Workspace
from intercom_contacts.importer.client import BatchApi
from intercom_contacts.importer.mapping import (
    DEFAULT_TAG_SEPARATOR,
    ColumnMapping,
    Kind,
    parse_attribute_option,
    parse_map_option,
    parse_tag_options,
    read_mapping_file,
)
from intercom_contacts.importer.problems import ImportProblem
from intercom_contacts.importer.progress import progress_for
from intercom_contacts.importer.run import POLL_SECONDS, STALL_MINUTES, ImportOptions, run_import
from intercom_contacts.intercom.data_attributes import DataAttribute
from intercom_contacts.models.contact import OnConflict

INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _import(args)
    except ImportProblem as problem:
        print(f"{problem.code}: {problem.message}", file=sys.stderr)
        return problem.exit_code
    except KeyboardInterrupt:
        print(
            "Interrupted. Run the same command again to pick up where it stopped: nothing is queued twice.",
            file=sys.stderr,
        )
        return INTERRUPTED


def _import(args: argparse.Namespace) -> int:
    fields = read_mapping_file(Path(args.mapping)) if args.mapping else {}
    fields.update(parse_map_option(option) for option in args.map)
    # The service is asked for the workspace's attributes only when a custom attribute column needs them.
    workspace = Workspace(lambda: _workspace_attributes(args), create=args.create_attributes)
    mapping = ColumnMapping(
        dict(parse_attribute_option(option) for option in args.attribute),
        ignored=args.ignore,
        default_role=args.role,
        fields=fields,
        workspace=workspace if args.dry_run else None,
        tags=parse_tag_options(args.tag),
        tag_separator=args.tag_separator,
    )
    options = ImportOptions(
        Path(args.file),
        mapping,
        OnConflict(args.on_conflict),
        retry_failed=args.retry_failed,
        poll_seconds=args.poll_seconds,
        stall_minutes=args.stall_minutes,
        save_mapping=Path(args.save_mapping) if args.save_mapping else None,
        workspace=workspace,
    )
    api = None
    if not args.dry_run:
        where = _target(args)
        print(f"Importing {options.path} into {where.url} ({where.origin})", file=sys.stderr)
        api = BatchApi(where.url, where.api_key)
    succeeded = run_import(options, api=api, progress=progress_for(sys.stderr), out=sys.stdout)
    return 0 if succeeded else 1


def _target(args: argparse.Namespace) -> target.ApiTarget:
    return (
        target.from_stack(args.stack_name, args.api_key)
        if args.stack_name
        else target.resolve(api=args.api, api_key=args.api_key, environ=os.environ, cwd=Path.cwd())
    )


def _workspace_attributes(args: argparse.Namespace) -> dict[str, DataAttribute]:
    where = _target(args)
    print(f"Reading the workspace's custom attributes through {where.url} ({where.origin})", file=sys.stderr)
    return BatchApi(where.url, where.api_key).attributes()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intercom-contacts", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser(
        "import",
        help="create the contacts of a CSV or JSON Lines file",
        description="Create the contacts of a CSV file (header row; comma or semicolon; UTF-8) or a JSON "
        "Lines file (one contact object per line) through POST /contacts/batch. Every row is checked "
        "before anything is sent; FILE.results.csv says what became of each row.",
        epilog=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    command.add_argument("file", metavar="FILE")
    mapping = command.add_argument_group(
        "what the rows become",
        "CSV headers are matched loosely (case, spaces, - and _ aside; Email Address, Phone Number, User ID, "
        "Signup Date, First Name + Last Name, ...); a column nothing matches is not sent, and the mapping "
        "is printed first",
    )
    mapping.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="send COLUMN as FIELD: a contact field, custom_attributes.NAME, company_id, company_name, "
        "company.FIELD, company.custom_attributes.NAME, tags, or ignore; repeatable",
    )
    mapping.add_argument(
        "--mapping", metavar="FILE", help="a JSON object of COLUMN: FIELD, as --map takes them (--map wins)"
    )
    mapping.add_argument(
        "--save-mapping", metavar="FILE", help="write the mapping in use as JSON, for --mapping next time"
    )
    mapping.add_argument(
        "--role",
        choices=("user", "lead"),
        help="the role of rows that do not give one (a CSV without a role column: user)",
    )
    mapping.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="NAME:TYPE",
        help=f"send column NAME as a custom attribute of TYPE ({', '.join(Kind)}), converted here; "
        "without it a custom_attributes.NAME column is sent as text and the service converts it to the "
        "workspace's type (a dry run checks it against the workspace); a company.custom_attributes.NAME "
        "column is sent as the file has it without it; repeatable",
    )
    mapping.add_argument(
        "--create-attributes",
        action="store_true",
        help="create each custom attribute the workspace lacks before the contacts, typed by --attribute or "
        "by its column's values (all integers: integer; numbers: float; true/false/yes/no: boolean; ISO "
        "dates: date; else string); with --dry-run, say what would be created",
    )
    mapping.add_argument(
        "--ignore", action="append", default=[], metavar="COLUMN", help="leave this column out; repeatable"
    )
    mapping.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="NAME",
        help="tag every contact of the file NAME, besides its tags column; repeatable",
    )
    mapping.add_argument(
        "--tag-separator",
        type=_separator,
        default=DEFAULT_TAG_SEPARATOR,
        metavar="SEP",
        help=f"what separates the names in a tags column (default {DEFAULT_TAG_SEPARATOR!r})",
    )
    mapping.add_argument(
        "--on-conflict",
        choices=[choice.value for choice in OnConflict],
        default=OnConflict.RETURN.value,
        help="when the user exists: keep it (return, the default), update it, or fail the row",
    )
    run = command.add_argument_group("how it runs")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the mapping, check every row and print the report; send nothing",
    )
    run.add_argument(
        "--retry-failed", action="store_true", help="send the batches' failed rows back once, and follow them"
    )
    run.add_argument(
        "--poll-seconds",
        type=_positive,
        default=POLL_SECONDS,
        metavar="SECONDS",
        help=f"how often to ask how the batches are doing (default {POLL_SECONDS:g})",
    )
    run.add_argument(
        "--stall-minutes",
        type=_positive,
        default=STALL_MINUTES,
        metavar="MINUTES",
        help=f"stop (BATCH_STALLED) when no followed row changes for this long (default {STALL_MINUTES:g})",
    )
    where = command.add_argument_group(
        "where to send", "default: CONTACTS_API_URL and CONTACTS_API_KEY, else the local stack of `make run`"
    )
    target_options = where.add_mutually_exclusive_group()
    target_options.add_argument("--api", metavar="URL", help="the API's base URL")
    target_options.add_argument(
        "--stack-name", metavar="NAME", help="a deployed stack: its outputs give the URL and key"
    )
    where.add_argument("--api-key", metavar="KEY", help="the API key (x-api-key)")
    return parser


def _separator(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("give the text that separates tag names, e.g. '|'")
    return text


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


if __name__ == "__main__":
    sys.exit(main())
