"""`smtpwatch targets add|update|enable|disable|remove`: the handlers that change one target.

Each reads the options, applies the rules of ``target_edits``, stores passwords as
secrets and writes the item; errors are one line naming the field, nothing written.
"""

from __future__ import annotations

import argparse
import getpass
import os
import stat
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from smtpwatch.cli.main import UsageError
from smtpwatch.cli.target_edits import (
    apply_update,
    existing,
    missing_message,
    new_item,
    parse_host_argument,
    require_change,
    unknown_attributes,
    validate,
    with_enabled,
    with_password_ref,
)
from smtpwatch.cli.target_options import field_values, set_values
from smtpwatch.cli.targets_backends import (
    EXIT_OK,
    TargetExists,
    TargetMissing,
    Targets,
    opened,
)
from smtpwatch.core.errors import ConfigError, SecretError
from smtpwatch.core.target import Target

__all__ = ["add", "remove", "set_enabled", "update"]


def add(args: argparse.Namespace) -> int:
    with opened(args) as store:
        host, port = parse_host_argument(args.host)
        fields = field_values(args) | set_values(args.set_values)
        item = new_item(args.target_id, host, port, fields, password_given=_password_given(args))
        item, password = _with_password(store, args, item, fields)
        target = validate(item, aws=store.aws)
        password = _token_document(args, target) or password
        if store.get(target.target_id) is not None:
            raise UsageError(
                f"target {target.target_id!r} already exists; change it with "
                f"`smtpwatch targets update {target.target_id} --set FIELD=VALUE`"
            )
        if password is not None:
            _store_password(store, args, target, password)
        try:
            store.create(target.to_item())
        except TargetExists:
            raise UsageError(
                f"target {target.target_id!r} already exists (added meanwhile)"
            ) from None
        text = f"added {target.target_id} ({target.describe()}) to {store.description}"
        return _done(args, text, "added", store, target.target_id, target)


def update(args: argparse.Namespace) -> int:
    with opened(args) as store:
        current = existing(store.get(args.target_id), args.target_id)
        options = field_values(args)
        sets = set_values(args.set_values)
        fields = options | sets
        # --tag changes single tags (`KEY=` removes one); --set tags= replaces them all.
        item = apply_update(current, fields, args.unset, merge_tags="tags" not in sets)
        require_change(fields, args.unset, password_given=_password_given(args))
        try:
            old: Target | None = Target.from_item(current, strict=False)[0]
        except ConfigError:
            old = None  # an invalid stored item this update may fix
        item, password = _with_password(store, args, item, fields)
        target = validate(item, aws=store.aws)
        password = _token_document(args, target) or password
        dropped = unknown_attributes(current)
        if dropped:
            print(
                f"note: dropped unknown attribute(s) {', '.join(dropped)} of {target.target_id}",
                file=sys.stderr,
            )
        if password is not None:
            _store_password(store, args, target, password)
        elif old is not None and old.host != target.host and target.password_ref:
            print(
                f"note: the password of {target.target_id} may be bound to {old.host}; store it "
                f"again for {target.host} with --password-prompt or --password-env",
                file=sys.stderr,
            )
        _replace(store, target, args.target_id)
        text = f"updated {target.target_id} ({target.describe()})"
        return _done(args, text, "updated", store, target.target_id, target)


def set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    with opened(args) as store:
        current = existing(store.get(args.target_id), args.target_id)
        word = "enabled" if enabled else "disabled"
        target, changed = with_enabled(current, args.target_id, enabled)
        if not changed:
            text = f"{target.target_id} is already {word}"
            return _done(args, text, word, store, target.target_id, target, changed=False)
        _replace(store, target, args.target_id)
        return _done(args, f"{target.target_id} {word}", word, store, target.target_id, target)


def remove(args: argparse.Namespace) -> int:
    with opened(args) as store:
        current = store.get(args.target_id)
        if current is None or not store.remove(args.target_id):
            raise UsageError(missing_message(args.target_id))
        ref = current.get("password_ref") or current.get("token_ref")
        if isinstance(ref, str) and ref:
            try:
                # The writer of the reference's own kind (``remove`` has no --secret-store).
                kind = "secretsmanager" if ref.startswith("secretsmanager:") else "ssm"
                writer = store.secret_writer(argparse.Namespace(**vars(args), secret_store=kind))
                # Only the secret the CLI created for this very target: never a shared one.
                if ref == writer.ref_for(args.target_id):
                    writer.delete(ref)
            except (SecretError, UsageError):
                pass
        return _done(args, f"removed {args.target_id}", "removed", store, args.target_id)


def _done(
    args: argparse.Namespace,
    text: str,
    action: str,
    store: Targets,
    target_id: str,
    target: Target | None = None,
    *,
    changed: bool = True,
) -> int:
    """The line for a person, or under ``--json`` the document: ``action`` (added,
    updated, enabled, disabled, removed), ``target_id``, ``changed``, ``store`` and, but
    for remove, ``target`` as ``targets show --json`` prints it."""
    if not args.json:
        print(text)
        return EXIT_OK
    from smtpwatch.cli.output import print_json

    doc: dict[str, Any] = {
        "action": action,
        "target_id": target_id,
        "changed": changed,
        "store": store.description,
    }
    if target is not None:
        doc["target"] = target.to_item()
    print_json(doc)
    return EXIT_OK


def _replace(store: Targets, target: Target, target_id: str) -> None:
    try:
        store.replace(target.to_item())
    except TargetMissing:
        raise UsageError(missing_message(target_id)) from None


def _password_given(args: argparse.Namespace) -> bool:
    return bool(args.password_prompt or args.password_env or args.token_file)


def _token_document(args: argparse.Namespace, target: Target) -> str | None:
    """``--token-file``: the token source document, checked before anything is stored
    (private file, hosts naming the target's host, a document the token client takes)."""
    if not args.token_file:
        return None
    from smtpwatch.core.oauth_token import token_source_of_secret
    from smtpwatch.local.secrets import host_allowed, parse_document

    path = Path(args.token_file)
    where = f"--token-file {path}"
    try:
        st = path.stat()
        if stat.S_IMODE(st.st_mode) & 0o077 or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            raise UsageError(f"{where}: other users may read it (chmod 600 {path})")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{where}: cannot read ({exc.strerror})") from None
    try:
        document, hosts = parse_document(text, where)
        if not hosts or '"oauth"' not in document:
            raise UsageError(
                f'{where}: expected a token source {{"oauth": {{...}}, "hosts": [...]}}'
            )
        if not host_allowed(hosts, target.host):
            raise UsageError(
                f"{where}: its token may only be sent to {', '.join(hosts)}, not to "
                f"{target.host}: refusing to store it for this target"
            )
        token_source_of_secret(document, where)
    except SecretError as exc:
        raise UsageError(str(exc)) from None
    return document


def _read_password(args: argparse.Namespace, target_id: str) -> str | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise UsageError(f"--password-env: environment variable {args.password_env} is not set")
        return value
    if args.password_prompt:
        value = getpass.getpass(f"Password for {target_id}: ")
        if not value:
            raise UsageError("--password-prompt: empty password")
        return value
    return None


def _with_password(
    store: Targets, args: argparse.Namespace, item: Mapping[str, Any], given: Collection[str]
) -> tuple[dict[str, Any], str | None]:
    """The item as it will be saved when a password is given (login on, the reference
    our secret will have), and the password. Validated before any secret is stored."""
    if args.token_file:
        if "token_ref" in given or "password_ref" in given:
            raise UsageError("give either --token-file or --token-ref/--password-ref, not both")
        ref = store.secret_writer(args).ref_for(item["target_id"])
        item = {k: v for k, v in item.items() if k != "password_ref"}
        return dict(item, login=True, token_ref=ref), None  # stored by _token_document's text
    password = _read_password(args, item["target_id"])
    if password is None:
        return dict(item), None
    item = with_password_ref(item, given, lambda tid: store.secret_writer(args).ref_for(tid))
    return item, password


def _store_password(store: Targets, args: argparse.Namespace, target: Target, password: str) -> str:
    writer = store.secret_writer(args)
    document = password if args.token_file else None  # a token source, stored whole
    if not store.aws:
        if document is not None:
            return writer.store(
                target_id=target.target_id, host=target.host, password="", document=document
            )
        return writer.store(target_id=target.target_id, host=target.host, password=password)
    from smtpwatch.adapters.aws_secrets import unverified_reasons
    from smtpwatch.adapters.secret_store import AwsSecretWriter

    assert isinstance(writer, AwsSecretWriter)
    # The probe Lambda sends a password to a target whose TLS does not prove the
    # server's identity only if the secret allows it. Storing the password for such a
    # target right now is that consent; a later edit of the table is not.
    reasons = unverified_reasons(target)
    if reasons:
        print(
            f"note: the secret allows this target's unverified connection ({'; '.join(reasons)})",
            file=sys.stderr,
        )
    if document is not None and reasons:
        import json

        document = json.dumps({**json.loads(document), "allow_unverified": True})
    return writer.store(
        target_id=target.target_id,
        host=target.host,
        password="" if document is not None else password,
        allow_unverified=bool(reasons),
        document=document,
    )
