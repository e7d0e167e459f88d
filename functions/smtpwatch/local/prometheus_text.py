"""The Prometheus text exposition format (version 0.0.4) of every target's figures.

Pure rendering: ``render_metrics`` turns ``TargetView``s into the ``/metrics`` body,
with blackbox_exporter's metric names and label values escaped so that no target id,
host or tag can break a line. ``tag_label_names`` says which label each tag becomes.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable

from smtpwatch.local.target_views import STATES, MetricValues, TargetView, metric_values

__all__ = ["CONTENT_TYPE", "escape_label_value", "render_metrics", "tag_label_names"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NOT_LABEL_CHAR = re.compile(r"[^A-Za-z0-9_]")
_Sample = tuple[dict[str, str], float]

# (name, help, samples of one target beyond its own labels)
_FAMILIES: tuple[tuple[str, str, Callable[[TargetView, MetricValues], list[_Sample]]], ...] = (
    (
        "probe_success",
        "1 if the newest check that was not unknown passed (ok or warning), 0 if critical.",
        lambda v, m: [] if m.success is None else [({}, m.success)],
    ),
    (
        "probe_duration_seconds",
        "How long that check took, all phases.",
        lambda v, m: [] if m.duration_s is None else [({}, m.duration_s)],
    ),
    (
        "probe_smtp_duration_seconds",
        "Duration of each phase that check reached.",
        lambda v, m: [({"phase": p}, s) for p, s in m.phases_s.items()],
    ),
    (
        "probe_ssl_earliest_cert_expiry",
        "The server certificate's notAfter as a Unix timestamp.",
        lambda v, m: [] if m.cert_expiry is None else [({}, m.cert_expiry)],
    ),
    (
        "probe_ip_protocol",
        "IP version of the address that check used (4 or 6).",
        lambda v, m: [] if m.ip_protocol is None else [({}, m.ip_protocol)],
    ),
    (
        "smtpwatch_target_state",
        "The target's confirmed state: 1 for the current one, 0 for the others.",
        lambda v, m: [({"state": s}, 1 if v.state == s else 0) for s in STATES],
    ),
    (
        "smtpwatch_check_timestamp_seconds",
        "When the newest check (of any status) started, as a Unix timestamp.",
        lambda v, m: [] if m.check_timestamp is None else [({}, m.check_timestamp)],
    ),
)


def escape_label_value(value: str) -> str:
    """Backslash, double quote and newline escaped as the format requires; a lone
    surrogate (not encodable as UTF-8) becomes "?"."""
    if value.isascii() and not ("\\" in value or '"' in value or "\n" in value):
        return value  # the common case, without a copy
    safe = value.encode("utf-8", "replace").decode("utf-8")
    return safe.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def tag_label_names(tags: Iterable[str]) -> dict[str, str]:
    """{label name: tag key}: ``tag_`` + the key with every character outside
    [A-Za-z0-9_] turned into "_". When keys collide after that, the key that sorts
    first (by code point) keeps the label and the others are left out."""
    names: dict[str, str] = {}
    for key in sorted(tags):
        names.setdefault("tag_" + _NOT_LABEL_CHAR.sub("_", key), key)
    return names


def render_metrics(views: Iterable[TargetView]) -> str:
    """The whole ``/metrics`` body: each family's HELP and TYPE, then one target after
    another (a family is never split)."""
    rows = [(_labels(v), v, metric_values(v)) for v in views]
    out: list[str] = []
    for name, help_text, samples in _FAMILIES:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} gauge")
        for labels, view, values in rows:
            for extra, value in samples(view, values):
                suffix = "".join(_extra_label(k, v) for k, v in extra.items())
                out.append(f"{name}{{{labels}{suffix}}} {_number(value)}")
    return "\n".join(out) + "\n"


def _labels(view: TargetView) -> str:
    pairs = {
        "target_id": view.target_id,
        "host": view.host,
        "port": view.port,
        "location": view.location,
    }
    for label, key in sorted(tag_label_names(view.tags).items()):
        pairs[label] = view.tags[key]
    return _label_text(pairs).lstrip(",")


def _label_text(pairs: dict[str, str]) -> str:
    return "".join(f',{k}="{escape_label_value(v)}"' for k, v in pairs.items())


@functools.lru_cache(maxsize=64)
def _extra_label(name: str, value: str) -> str:
    # phase="…" and state="…": a handful of constants, escaped once.
    return _label_text({name: value})


def _number(value: float) -> str:
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
