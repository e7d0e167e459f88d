"""`smtpwatch targets import|export`: every target from or to a YAML or JSON file.

Import validates the whole file before anything is written (all or nothing) and
prints progress on stderr; export writes what import reads back.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from smtpwatch.cli.main import CommandError, UsageError
from smtpwatch.cli.targets_backends import EXIT_OK, ImportInterrupted, opened
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target import Target, check_aws_limits

__all__ = ["export", "import_file"]

PROGRESS_EVERY = 1000  # import progress line on stderr every N items


def export(args: argparse.Namespace) -> int:
    from smtpwatch.cli.targets_io import dump_items

    with opened(args) as store:
        raw_items = list(store.items())
    out: list[dict[str, Any]] = []
    for item in raw_items:
        try:
            out.append(Target.from_item(item, strict=False)[0].to_item())
        except ConfigError as exc:
            # Exported as stored, so nothing is lost; import will name the problem.
            print(f"warning: {item.get('target_id')}: {exc}", file=sys.stderr)
            out.append(item)
    sys.stdout.write(dump_items(out, args.format))
    return EXIT_OK


def import_file(args: argparse.Namespace) -> int:
    from smtpwatch.cli.targets_io import (
        FileFormatError,
        error_lines,
        guess_format,
        parse_text,
        validate_items,
    )

    name = "stdin" if args.file == "-" else args.file
    text = _read_import_file(args.file, name)
    fmt = args.format or (None if args.file == "-" else guess_format(args.file))
    try:
        raw = parse_text(text, fmt=fmt)
    except FileFormatError as exc:
        raise UsageError(f"{name}: {exc}; nothing imported") from None
    # Which backend decides the limits, so open it (and fail on a bad --stack) first.
    with opened(args) as store:
        targets, errors = validate_items(raw, extra_check=check_aws_limits if store.aws else None)
        if errors:
            items_bad = len({e.item for e in errors})
            raise UsageError(
                f"{name}: {len(errors)} error(s) in {items_bad} of {len(raw)} item(s); "
                "nothing imported",
                details=error_lines(name, errors),
            )
        items = [t.to_item() for t in targets]
        if not items:
            return _report(args, f"{name}: no targets; nothing imported", name, store, None)
        shown = 0

        def progress(done: int, total: int) -> None:
            nonlocal shown
            # A line every PROGRESS_EVERY items and at the end: enough to see a
            # 10,000-target import move, without flooding a terminal.
            if done and (done == total or done - shown >= PROGRESS_EVERY):
                shown = done
                # "processed", not "written": unchanged items count too (the summary
                # below tells new, replaced and unchanged apart).
                print(f"import: {done}/{total} processed", file=sys.stderr, flush=True)

        try:
            report = store.import_items(items, progress)
        except ImportInterrupted as exc:
            raise CommandError(
                f"{exc}; the targets written are complete — "
                "run the same command again to finish (it skips what is already there)"
            ) from None
        text = (
            f"imported {report.total} target(s) into {store.description}: "
            f"{report.new} new, {report.total - report.new - report.unchanged} replaced, "
            f"{report.unchanged} unchanged"
        )
        return _report(args, text, name, store, report)


def _report(args: argparse.Namespace, text: str, name: str, store: Any, report: Any) -> int:
    """The summary line, or under ``--json`` the import report: ``file``, ``store``,
    ``total``, ``new``, ``replaced``, ``unchanged``."""
    if not args.json:
        print(text)
        return EXIT_OK
    from smtpwatch.cli.output import print_json

    total = report.total if report else 0
    new = report.new if report else 0
    unchanged = report.unchanged if report else 0
    doc = {
        "file": name,
        "store": store.description,
        "total": total,
        "new": new,
        "replaced": total - new - unchanged,
        "unchanged": unchanged,
    }
    print_json(doc)
    return EXIT_OK


def _read_import_file(path: str, name: str) -> str:
    """The import file's text, at most ``MAX_DOCUMENT_BYTES`` (stdin too)."""
    from smtpwatch.cli.file_input import MAX_DOCUMENT_BYTES, read_bounded

    try:
        data = read_bounded(path, limit=MAX_DOCUMENT_BYTES, label="import", regular_only=False)
    except UsageError as exc:
        raise UsageError(f"{exc}; nothing imported") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: cannot read ({exc}); nothing imported") from None
