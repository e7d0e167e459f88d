"""`smtpwatch targets list|show`: the stored targets as a table, one in full, or JSON.

An item the model refuses is still shown, as stored and marked INVALID, so that it can
be found and fixed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from smtpwatch.cli.output import print_json, render_table
from smtpwatch.cli.target_edits import existing
from smtpwatch.cli.targets_backends import EXIT_OK, opened
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target import TARGET_FIELDS, Target
from smtpwatch.core.target_fields import DEFAULTS

__all__ = ["list_targets", "show"]


def list_targets(args: argparse.Namespace) -> int:
    with opened(args) as store:
        items = list(store.items())
    if args.json:
        out = []
        for item in items:
            try:
                out.append(Target.from_item(item, strict=False)[0].to_item())
            except ConfigError:
                out.append(item)
        print_json(out)
        return EXIT_OK
    rows = []
    for item in items:
        try:
            t, _ = Target.from_item(item, strict=False)
        except ConfigError as exc:
            rows.append([item.get("target_id"), item.get("host"), "INVALID", str(exc), "-", "-"])
            continue
        tags = ",".join(f"{k}={v}" for k, v in sorted(t.tags.items())) or "-"
        rows.append(
            [t.target_id, t.describe(), t.encryption, _interval(t.interval_s),
             "yes" if t.enabled else "no", tags]
        )  # fmt: skip
    if not rows:
        print(f"no targets in {store.description} (add one with `smtpwatch targets add ID HOST`)")
        return EXIT_OK
    print(render_table(["ID", "HOST:PORT", "ENCRYPTION", "INTERVAL", "ENABLED", "TAGS"], rows))
    return EXIT_OK


def show(args: argparse.Namespace) -> int:
    with opened(args) as store:
        item = existing(store.get(args.target_id), args.target_id)
    try:
        target, _ = Target.from_item(item, strict=False)
    except ConfigError as exc:
        if args.json:
            print_json(item)
        else:
            print(f"{args.target_id}: INVALID ({exc}); stored item:")
            print_json(item)
        return EXIT_OK
    if args.json:
        print_json(target.to_item())
        return EXIT_OK
    full = target.to_item(full=True)
    print(f"{target.target_id}  {target.describe()}")
    for name in TARGET_FIELDS:
        value = full.get(name)
        default = name not in ("target_id", "host") and getattr(target, name) == DEFAULTS[name]
        text = _human(name, value)
        if name == "port" and value is None:
            text = f"{target.effective_port} (by encryption)"
        elif name == "name" and value == target.host:
            text += "  (default: the host)"
        elif default:
            text += "  (default)"
        print(f"  {name:<22} {text}")
    return EXIT_OK


def _human(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if name == "ca_bundle" and isinstance(value, str):
        return f"PEM, {value.count('BEGIN CERTIFICATE')} certificate(s)"
    if name == "tags" and isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if name == "maintenance":
        return json.dumps(value) if value else "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _interval(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
