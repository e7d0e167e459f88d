"""The rules of `smtpwatch targets add|update|enable|disable`, as pure functions.

Each takes the stored item and the fields the user gave (raw values, as the options
read them) and returns the item to validate and store, or raises ``UsageError`` /
``ConfigError`` naming what is wrong. No argparse, no store, no output.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from smtpwatch.cli.main import UsageError
from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target import STATE_FIELDS, TARGET_FIELDS, Target, check_aws_limits

__all__ = [
    "apply_update",
    "check_one_port",
    "existing",
    "missing_message",
    "new_item",
    "parse_host_argument",
    "require_change",
    "unknown_attributes",
    "validate",
    "with_enabled",
    "with_password_ref",
]


def missing_message(target_id: str) -> str:
    return (
        f"no target {target_id!r} "
        "(see `smtpwatch targets list`; add it with `smtpwatch targets add`)"
    )


def existing(item: dict[str, Any] | None, target_id: str) -> dict[str, Any]:
    """The stored item of ``target_id``; an unknown target is refused by name."""
    if item is None:
        raise UsageError(missing_message(target_id))
    return item


def validate(item: Mapping[str, Any], *, aws: bool) -> Target:
    """The item through the one ``Target`` model (unknown attributes refused), and the
    AWS limits when it goes to DynamoDB."""
    target, _unknown = Target.from_item(item, strict=True)
    if aws:
        check_aws_limits(target)
    return target


def parse_host_argument(text: str) -> tuple[str, int | None]:
    """``add``'s HOST[:PORT] argument."""
    from smtpwatch.core.parsing import parse_host_port

    try:
        return parse_host_port(text)
    except ConfigError as exc:  # "host: 0 is out of range" would blame the name
        raise UsageError(f"HOST[:PORT]: {exc.reason}") from None


def check_one_port(in_host: int | None, fields: Mapping[str, Any]) -> None:
    """A port both in HOST:PORT and in --port (or --set port=) must be the same one:
    silently preferring either would probe a port the user did not mean."""
    if in_host is None or "port" not in fields:
        return
    from smtpwatch.core.parsing import parse_port

    try:
        other = parse_port(fields["port"])
    except ConfigError:
        return  # the model names the bad value
    if other != in_host:
        raise UsageError(f"--port: {other} conflicts with port {in_host} in HOST:PORT; give one")


def _nameservers_imply_external(fields: Mapping[str, Any]) -> dict[str, Any]:
    """--nameserver without --dns-mode means "ask these": dns_mode external, the only
    mode that uses them (with another mode given, the model refuses the pair)."""
    if fields.get("nameservers") and "dns_mode" not in fields:
        return {**fields, "dns_mode": "external"}
    return dict(fields)


def new_item(
    target_id: str,
    host: str,
    port: int | None,
    fields: Mapping[str, Any],
    *,
    password_given: bool,
) -> dict[str, Any]:
    """``add``: the item of a new target from its id, HOST[:PORT] and the fields given
    (``password_given``: --password-prompt or --password-env)."""
    item: dict[str, Any] = {"target_id": target_id, "host": host}
    if port is not None:
        item["port"] = port
    if "target_id" in fields or "host" in fields:
        raise UsageError("give TARGET_ID and HOST[:PORT] as arguments, not with --set")
    check_one_port(port, fields)
    item.update(_nameservers_imply_external(fields))
    if "login" not in fields and ({"username", "password_ref", "token_ref"} & set(fields)):
        # `--username U --password-ref REF` means "log in" (as with --password-env):
        # a target that kept both and never logged in would look healthy while
        # proving nothing about AUTH.
        item["login"] = True
        if not item.get("password_ref") and not item.get("token_ref") and not password_given:
            raise UsageError(
                "--username: logging in needs a password: add --password-prompt, "
                "--password-env VAR or --password-ref REF (or --no-login)"
            )
    return item


def unknown_attributes(item: Mapping[str, Any]) -> list[str]:
    """Attributes of a stored item that the model does not know (typed in the console,
    say): ``update`` drops them with a note."""
    return sorted(k for k in item if k not in TARGET_FIELDS and k not in STATE_FIELDS)


def apply_update(
    current: Mapping[str, Any],
    fields: Mapping[str, Any],
    unset: Iterable[str],
    *,
    merge_tags: bool = False,
) -> dict[str, Any]:
    """``update``: the stored item with ``fields`` set and ``unset`` back to their
    defaults, unknown attributes dropped (also when the stored item is invalid and this
    update fixes it). ``merge_tags``: the tags given change single tags, ``KEY=""``
    removes one (``--tag``); else they replace all tags (``--set tags=``)."""
    unset = list(unset)
    if "target_id" in fields or "target_id" in unset:
        raise UsageError("target_id cannot change (export, edit and import under the new id)")
    changes = _nameservers_imply_external(fields)
    if "host" in changes and isinstance(changes["host"], str):
        from smtpwatch.core.parsing import parse_host_port

        host, port = parse_host_port(changes["host"])
        changes["host"] = host
        check_one_port(port, changes)
        if port is not None and "port" not in changes:
            changes["port"] = port
    dropped = unknown_attributes(current)
    item = {k: v for k, v in current.items() if k not in dropped}
    if "tags" in changes and merge_tags:
        changes["tags"] = _merged_tags(item.get("tags") or {}, changes["tags"])
    item.update(changes)
    for name in unset:
        if name in ("host",):
            raise UsageError(f"--unset {name}: {name} is required")
        if name not in TARGET_FIELDS:
            # The model's own message: an unknown name with a "did you mean" hint.
            Target.from_item({"target_id": "x", "host": "x", name: None}, strict=True)
        item.pop(name, None)
    return item


def _merged_tags(current: Mapping[str, Any], changes: Mapping[str, str]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return merged


def require_change(
    fields: Collection[str], unset: Collection[str], *, password_given: bool
) -> None:
    """``update`` with nothing to change is a mistake, not a no-op."""
    if not fields and not unset and not password_given:
        raise UsageError(
            "nothing to change: give --set FIELD=VALUE, --unset FIELD or a field option"
        )


def with_password_ref(
    item: Mapping[str, Any], given: Collection[str], ref_for: Callable[[str], str]
) -> dict[str, Any]:
    """The item when a password is given to store as a secret: login on, and
    ``password_ref`` the reference ``ref_for`` gives that secret. ``given``: the fields
    the user set, which must not contradict that."""
    if "password_ref" in given:
        raise UsageError("give either --password-ref or --password-prompt/--password-env, not both")
    if "login" in given and str(item.get("login")).lower() in ("false", "none"):
        raise UsageError("login: a password is given, so login cannot be false")
    result = dict(item, login=True)
    result["password_ref"] = ref_for(result["target_id"])
    return result


def with_enabled(current: Mapping[str, Any], target_id: str, enabled: bool) -> tuple[Target, bool]:
    """``enable``/``disable``: the target with ``enabled`` set, and whether that changed
    it (False: it already was). A stored item the model refuses is named, with how to
    fix it."""
    try:
        target, dropped = Target.from_item(current, strict=False)
    except ConfigError as exc:
        raise UsageError(
            f"{target_id} is stored with an invalid field ({exc}); fix it with "
            f"`smtpwatch targets update {target_id} --set ...`"
        ) from None
    if target.enabled == enabled:
        return target, False
    item = {k: v for k, v in current.items() if k not in dropped}
    item["enabled"] = enabled
    return validate(item, aws=False), True  # limits unchanged: only `enabled` moved
