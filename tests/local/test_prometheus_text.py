"""/metrics rendering: exact lines, the unknown rule, tag label names, and label values
that survive any text (checked with prometheus_client's own parser)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from smtpwatch.local.prometheus_text import escape_label_value, render_metrics, tag_label_names
from smtpwatch.local.target_views import TargetView


def result(status: str = "ok", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": status,
        "started_at": "2026-01-02T03:04:05Z",
        "total_ms": 123.4,
        "phases": {"connect": {"reached": True, "ok": True, "ms": 1.5}, "auth": {"ms": None}},
        "address": {"family": "ipv6"},
        "tls": {"not_after": "2027-01-01T00:00:00Z"},
    }
    return doc | extra


def view(target_id: str = "t", **changes: Any) -> TargetView:
    fields: dict[str, Any] = {
        "target_id": target_id,
        "host": "mx.example",
        "port": "25",
        "location": "lab",
        "tags": {},
        "state": "up",
        "since": None,
        "latest": result(),
        "measured": result(),
    }
    return TargetView(**(fields | changes))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_checked_target_gives_every_family_with_exact_values() -> None:
    text = render_metrics([view()])
    labels = 'target_id="t",host="mx.example",port="25",location="lab"'
    lines = set(text.splitlines())
    assert f"probe_success{{{labels}}} 1" in lines
    assert f"probe_duration_seconds{{{labels}}} 0.1234" in lines
    assert f'probe_smtp_duration_seconds{{{labels},phase="connect"}} 0.0015' in lines
    assert not any('phase="auth"' in line for line in lines)  # not reached: no sample
    assert f"probe_ssl_earliest_cert_expiry{{{labels}}} 1798761600" in lines
    assert f"probe_ip_protocol{{{labels}}} 6" in lines
    assert f'smtpwatch_target_state{{{labels},state="up"}} 1' in lines
    assert f'smtpwatch_target_state{{{labels},state="down"}} 0' in lines
    assert f"smtpwatch_check_timestamp_seconds{{{labels}}} 1767323045" in lines
    assert "# TYPE probe_success gauge" in lines


def test_warning_passes_and_critical_fails() -> None:
    text = render_metrics(
        [view("w", measured=result("warning")), view("c", measured=result("critical"))]
    )
    got = samples(text)
    assert [
        v for (n, ls), v in got.items() if n == "probe_success" and ("target_id", "w") in ls
    ] == [1]
    assert [
        v for (n, ls), v in got.items() if n == "probe_success" and ("target_id", "c") in ls
    ] == [0]


def test_an_unknown_check_leaves_success_at_the_last_measured_check() -> None:
    # The newest check is unknown; the one before failed: probe_success stays 0, and
    # the check timestamp is the unknown check's.
    latest = result("unknown", started_at="2026-01-02T04:00:00Z")
    text = render_metrics([view(latest=latest, measured=result("critical"))])
    assert 'probe_success{target_id="t",host="mx.example",port="25",location="lab"} 0' in text
    assert "smtpwatch_check_timestamp_seconds{" in text and "} 1767326400\n" in text


def test_only_unknown_checks_give_no_success_sample() -> None:
    text = render_metrics([view(latest=result("unknown"), measured=None, state="pending")])
    assert "probe_success{" not in text and "probe_duration_seconds{" not in text
    assert 'state="pending"} 1' in text


def test_tags_become_sanitised_labels_and_the_first_key_wins_a_collision() -> None:
    assert tag_label_names(["a.b", "a-b", "env"]) == {"tag_a_b": "a-b", "tag_env": "env"}
    text = render_metrics([view(tags={"a.b": "dot", "a-b": "dash", "team x": "ops"})])
    assert 'location="lab",tag_a_b="dash",tag_team_x="ops"}' in text
    assert '"dot"' not in text


def test_hostile_label_values_are_escaped() -> None:
    hostile = 'x"} 1\nprobe_success{target_id="y\\'
    text = render_metrics([view(hostile, host=hostile, tags={"k": hostile})])
    assert escape_label_value(hostile) == 'x\\"} 1\\nprobe_success{target_id=\\"y\\\\'
    got = samples(text)
    ids = {dict(ls)["target_id"] for (n, ls) in got}
    assert ids == {hostile}
    assert all(dict(ls)["tag_k"] == hostile and dict(ls)["host"] == hostile for (n, ls) in got)


@settings(max_examples=200, deadline=None)
@given(
    target_id=st.text(),
    host=st.text(),
    location=st.text(),
    tags=st.dictionaries(st.text(min_size=1), st.text(), max_size=4),
)
def test_any_label_text_round_trips_through_a_parser(
    target_id: str, host: str, location: str, tags: dict[str, str]
) -> None:
    text = render_metrics([view(target_id, host=host, location=location, tags=tags)])
    want = {"target_id": target_id, "host": host, "port": "25", "location": location}
    want |= {name: tags[key] for name, key in tag_label_names(tags).items()}
    got = samples(text)
    assert got and {(n, ls): v for (n, ls), v in got.items() if n == "probe_success"} == {
        ("probe_success", tuple(sorted(want.items()))): 1.0
    }
