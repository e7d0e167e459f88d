"""Monthly AWS cost per monitored target, line by line, at 1-minute and 5-minute checks.

    .venv/bin/python bench/cost.py                  # the model, with measured defaults
    .venv/bin/python bench/cost.py --measure        # measure first, then the model
    .venv/bin/python bench/cost.py --probe-ms 400 --targets 20 --rtt-ms 80

What is counted (us-east-1 list prices, no free tier, checked 2026-11-25):
- Lambda: one probe request per check + billed GB-seconds at the template's
  ProbeMemorySize (arm64); the dispatcher's requests and GB-seconds shared by all targets.
- DynamoDB on-demand: the write/read units of one healthy check as *measured* at the
  boto3 boundary (item sizes by DynamoDB's sizing rules), plus the one result a
  passing target stores per PassingResultSeconds (template default) and the writes
  around its alerts, the dispatcher's scans, and result storage for ResultRetentionDays.
- CloudWatch Logs: the bytes the handlers print per check (Powertools JSON lines + EMF
  blobs), measured; the template's SystemLogLevel WARN drops START/END/REPORT lines.
- Secrets (only targets with a login): SSM SecureString or Secrets Manager reads through
  the Powertools cache (300 s per warm container).
- SNS: alerts only (state changes), negligible per check.
- Fixed per stack: KMS key of the alert topic, alarms, custom metrics (by default only
  what an alarm watches: DetailedMetrics); shown apart and as a share per target.
- Apart: the dashboard (first three per account free) and its Logs Insights scans per
  refresh; then the all-in figure per target-month for 10, 100 and 1,000 targets.

Duration on AWS is modelled, not measured (no AWS account here): the CPU time a check
takes on this machine, scaled by how much of a vCPU Lambda gives at that memory
(1,769 MB = one vCPU), plus network waits: SMTP round trips x --rtt-ms and AWS calls x
--aws-call-ms. ``--probe-ms`` overrides the model with a figure read from real
REPORT lines / the Duration metric.

``--measure`` runs the real probe handler (explicit TLS + STARTTLS + AUTH through an SSM
SecureString) against a loopback aiosmtpd server and a moto server in another process,
and the dispatcher over --dispatch-targets targets, in a child process that holds only
the Lambda code (so CPU time and max RSS are the handler's own). Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"

# ----------------------------------------------------------------------------- prices
# us-east-1 list prices (USD), no free tier. Lambda/DynamoDB/CloudWatch pricing pages.
PRICE = {
    "lambda_gb_s_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "ddb_wru": 0.625 / 1e6,  # on-demand, since the Nov 2024 price cut
    "ddb_rru": 0.125 / 1e6,
    "ddb_storage_gb_month": 0.25,
    "logs_ingest_gb": 0.50,
    "logs_storage_gb_month": 0.03,
    "logs_insights_gb_scanned": 0.005,
    "cw_dashboard_month": 3.00,  # beyond the first three dashboards of an account
    "cw_metric_month": 0.30,  # per custom metric (name + dimension values), first 10k
    "cw_alarm_month": 0.10,  # standard resolution
    "kms_key_month": 1.00,
    "kms_request": 0.03 / 10_000,
    "secretsmanager_secret_month": 0.40,
    "secretsmanager_request": 0.05 / 10_000,
    "ssm_standard_request": 0.0,  # standard parameters, standard throughput
    "sns_publish": 0.50 / 1e6,
    "sns_email": 2.00 / 100_000,
    "nat_gateway_month": 0.045 * 730,
    "nat_gateway_gb": 0.045,
}
GOAL_PER_TARGET_MONTH = 0.05  # USD, at 1-minute checks
MINUTES_PER_MONTH = 30 * 24 * 60  # 43,200
FULL_VCPU_MB = 1769  # Lambda allocates CPU in proportion to memory; one vCPU at 1,769 MB

# ----------------------------------------------------------------------------- measured
# `python bench/cost.py --measure --checks 100 --dispatch-targets 500` on the team
# machine, 2026-12-06 (x86_64 VM, loopback aiosmtpd with STARTTLS + AUTH through an SSM
# SecureString, moto server in its own process, 501 targets per tick): medians of four
# runs, interleaved with four runs of the previous landing (BEFORE). This session's cost
# work: no result item for a passing unchanged check (one per PassingResultSeconds),
# compact EMF, the target item in the probe event, the state read eventually consistent.
MEASURED: dict[str, float] = {
    "probe_cpu_ms": 3.81,  # one warm, steady check, handler process CPU (3.42-4.28)
    "probe_aws_calls": 1.0,  # GetItem of the state (the target item is in the event)
    "probe_wru": 0.0,  # nothing written for a passing, unchanged check
    "probe_rru": 0.5,  # the state, eventually consistent
    "probe_log_bytes": 579.0,  # the EMF document only
    "probe_log_events": 1.0,
    "result_item_bytes": 413.0,  # a stored result item (compressed): one write unit
    "emf_metrics": 19.0,  # probe 12 + dispatcher 6 + cold start, dimension service only
    # DetailedMetrics false (the default): the same line without its EMF block (361 B
    # for that check: python bench/cost.py --measure serializes it under the template's
    # setting), so CloudWatch extracts no metric from it.
    "probe_log_bytes_alarms_only": 218.0,
    "dispatch_cpu_ms_per_target": 0.53,  # incl. its signed async Invoke (0.45-0.64)
    "dispatch_cpu_ms_per_tick": 30.0,  # claim, counters, summary (estimate)
    "dispatch_rru_per_target": 0.02,  # both scans, eventually consistent
    "dispatch_wru_per_tick": 3.0,  # window claim + completion + tick counter
    "dispatch_log_bytes_per_tick": 1017.0,
    "aws_call_cpu_ms": 0.85,  # client-side CPU of one boto3 DynamoDB call (0.78-1.17)
    "cold_cpu_ms": 134.0,  # import + first check (clients, TLS context)
    "max_rss_mb": 71.2,  # handler process after 100 checks (Lambda adds its runtime client)
}


# The previous landing (commit 3434266: a result item per check, units and one-element
# lists in EMF, target + state read with the state consistent), measured in the same
# four interleaved runs: 4.81 ms CPU (4.75-5.76), 2 calls (BatchGetItem, PutItem),
# 1 WRU and 1.5 RRU per check, 860 log bytes. Split here the way the model counts: the
# steady part below, and the result write the model adds per stored result (every
# check then).
BEFORE: dict[str, float] = {
    "probe_cpu_ms": 4.81 - 0.83,  # minus the PutItem's client CPU (aws_call_cpu_ms then)
    "probe_aws_calls": 1.0,  # BatchGetItem; the PutItem comes with each stored result
    "probe_wru": 0.0,
    "probe_rru": 1.5,
    "probe_log_bytes": 860.0,
    "result_item_bytes": 412.0,
    "passing_result_s": 0.0,  # every result stored
}


# ----------------------------------------------------------------------------- template
def template_defaults() -> dict[str, Any]:
    """Parameter defaults and resource counts read from template.yaml itself."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node, deep=True)}
        return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", tag)
    doc = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=Loader)  # SafeLoader subclass
    params = doc["Parameters"]
    resources = doc["Resources"]
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Sub"]
    return {
        "probe_memory_mb": int(params["ProbeMemorySize"]["Default"]),
        "dispatcher_memory_mb": int(params["DispatcherMemorySize"]["Default"]),
        "result_retention_days": int(params["ResultRetentionDays"]["Default"]),
        "passing_result_s": int(params["PassingResultSeconds"]["Default"]),
        "log_retention_days": int(params["LogRetentionDays"]["Default"]),
        "topic_key": params["EncryptAlertTopic"]["Default"] == "true",
        "alarms": sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in resources.values()),
        # Custom metrics an alarm watches: all that stay metrics without DetailedMetrics.
        "alarm_metrics": len(
            {
                r["Properties"]["MetricName"]
                for r in resources.values()
                if r["Type"] == "AWS::CloudWatch::Alarm"
                and not r["Properties"]["Namespace"].startswith("AWS/")
            }
        ),
        "detailed_metrics": params["DetailedMetrics"]["Default"] == "true",
        "dashboard": params["EnableDashboard"]["Default"] == "true",
        # Logs Insights widgets per log group (each scans its group at every refresh).
        "dashboard_probe_queries": body.count("SOURCE '${ProbeLogGroup}'"),
        "dashboard_dispatcher_queries": body.count("SOURCE '${DispatcherLogGroup}'"),
        "dashboard_start": json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["start"],
        "system_log_level": params["PlatformLogLevel"]["Default"],
    }


# ----------------------------------------------------------------------------- model
@dataclass
class Inputs:
    interval_min: float
    targets: int
    probe_memory_mb: int
    dispatcher_memory_mb: int
    probe_ms: float  # billed ms per check
    dispatcher_ms_per_target: float
    dispatcher_ms_per_tick: float
    wru_per_check: float  # a steady (passing, unchanged, not sampled) check
    rru_per_check: float
    passing_result_s: int  # PassingResultSeconds; 0 = a result item per check
    sample_extra_ms: float  # billed ms the sampled result's PutItem adds
    log_bytes_per_check: float
    result_item_bytes: float
    result_retention_days: int
    log_retention_days: int
    dispatch_rru_per_target: float
    dispatch_wru_per_tick: float
    dispatch_log_bytes_per_tick: float
    alarms: int
    topic_key: bool
    emf_metrics: float
    platform_log_bytes: float
    secret_reads_per_month: float
    alerts_per_month: float = 10.0
    state_writes_per_alert: float = 3.0  # pending, sent, and the change that caused it

    @property
    def samples_per_check(self) -> float:
        """Share of passing checks that store their result (1.0 = every check)."""
        if self.passing_result_s <= 0:
            return 1.0
        return min(1.0, self.interval_min * 60 / self.passing_result_s)


@dataclass
class Breakdown:
    per_target: list[tuple[str, float]] = field(default_factory=list)
    fixed: list[tuple[str, float]] = field(default_factory=list)
    optional: list[tuple[str, float]] = field(default_factory=list)

    @property
    def per_target_total(self) -> float:
        return sum(v for _, v in self.per_target)

    @property
    def fixed_total(self) -> float:
        return sum(v for _, v in self.fixed)


def cpu_scale(memory_mb: float) -> float:
    """How much longer CPU work takes at this memory than on one full vCPU."""
    return max(1.0, FULL_VCPU_MB / memory_mb)


def model(i: Inputs) -> Breakdown:
    checks = MINUTES_PER_MONTH / i.interval_min  # per target per month
    ticks = MINUTES_PER_MONTH  # the dispatcher runs every minute whatever the intervals
    b = Breakdown()
    gb_s = PRICE["lambda_gb_s_arm64"]
    samples = checks * i.samples_per_check  # stored passing results per month
    result_wru = max(1, math.ceil(i.result_item_bytes / 1024))
    billed_ms = i.probe_ms + i.samples_per_check * i.sample_extra_ms  # mean per check
    wru = i.wru_per_check * checks + samples * result_wru
    wru += i.alerts_per_month * i.state_writes_per_alert
    period = "every check" if i.passing_result_s <= 0 else f"1 per {i.passing_result_s} s"
    b.per_target += [
        ("Lambda probe requests", checks * PRICE["lambda_request"]),
        (
            f"Lambda probe duration ({billed_ms:.0f} ms x {i.probe_memory_mb} MB)",
            checks * billed_ms / 1000 * i.probe_memory_mb / 1024 * gb_s,
        ),
        (
            f"DynamoDB writes ({wru / checks:.3f} WRU/check: results {period}, alerts)",
            wru * PRICE["ddb_wru"],
        ),
        (
            f"DynamoDB reads ({i.rru_per_check:g} RRU/check)",
            checks * i.rru_per_check * PRICE["ddb_rru"],
        ),
    ]
    retained_items = i.result_retention_days * 1440 / i.interval_min * i.samples_per_check
    storage_gb = retained_items * (i.result_item_bytes + 100) / 1e9  # +100 B index overhead
    b.per_target.append(
        (
            f"DynamoDB results storage ({i.result_retention_days} d)",
            storage_gb * PRICE["ddb_storage_gb_month"],
        )
    )
    log_bytes = i.log_bytes_per_check + i.platform_log_bytes
    log_gb = checks * log_bytes / 1e9
    b.per_target += [
        (
            f"CloudWatch Logs ingestion ({log_bytes:.0f} B/check)",
            log_gb * PRICE["logs_ingest_gb"],
        ),
        (
            f"CloudWatch Logs storage ({i.log_retention_days} d)",
            log_gb * i.log_retention_days / 30 * PRICE["logs_storage_gb_month"],
        ),
    ]
    # Alerts go out on state changes only: a publish, an e-mail, KMS calls for the key.
    b.per_target.append(
        (
            f"SNS alerts ({i.alerts_per_month:g}/month, e-mail, topic key)",
            i.alerts_per_month
            * (PRICE["sns_publish"] + PRICE["sns_email"] + 2 * PRICE["kms_request"]),
        )
    )
    # Dispatcher: per due target per tick; a target is due once per interval.
    dispatch_ms = i.dispatcher_ms_per_target * checks
    b.per_target += [
        (
            f"Dispatcher duration share ({i.dispatcher_ms_per_target:.1f} ms/target x "
            f"{i.dispatcher_memory_mb} MB)",
            dispatch_ms / 1000 * i.dispatcher_memory_mb / 1024 * gb_s,
        ),
        (
            "Dispatcher scans (targets + state, every tick)",
            ticks * i.dispatch_rru_per_target * PRICE["ddb_rru"],
        ),
    ]
    # Fixed per stack and month.
    tick_gb_s = ticks * i.dispatcher_ms_per_tick / 1000 * i.dispatcher_memory_mb / 1024
    b.fixed += [
        ("Dispatcher requests (1/minute)", ticks * PRICE["lambda_request"]),
        ("Dispatcher duration, per-tick part", tick_gb_s * gb_s),
        ("Dispatcher bookkeeping writes", ticks * i.dispatch_wru_per_tick * PRICE["ddb_wru"]),
        (
            "Dispatcher logs",
            ticks * i.dispatch_log_bytes_per_tick / 1e9 * PRICE["logs_ingest_gb"],
        ),
        (f"CloudWatch alarms ({i.alarms})", i.alarms * PRICE["cw_alarm_month"]),
        (
            f"EMF custom metrics ({i.emf_metrics:.0f}, dimension service only)",
            i.emf_metrics * PRICE["cw_metric_month"],
        ),
    ]
    if i.topic_key:
        b.fixed.append(("KMS key of the alert topic", PRICE["kms_key_month"]))
    # Optional, per target with a login, or per stack with a VPC.
    reads = min(i.secret_reads_per_month, checks)
    b.optional += [
        (
            "login via SSM SecureString (KMS decrypts, per target)",
            reads * (PRICE["ssm_standard_request"] + PRICE["kms_request"]),
        ),
        (
            "login via Secrets Manager (per secret)",
            PRICE["secretsmanager_secret_month"] + reads * PRICE["secretsmanager_request"],
        ),
        ("VPC + NAT gateway for port 25 / fixed IP (per stack)", PRICE["nat_gateway_month"]),
    ]
    return b


def print_breakdown(i: Inputs, b: Breakdown) -> None:
    print(
        f"\n== every {i.interval_min:g} minute(s): "
        f"{MINUTES_PER_MONTH / i.interval_min:,.0f} checks per target-month"
    )
    for name, usd in b.per_target:
        print(f"  {name:<62} ${usd:9.5f}")
    total = b.per_target_total
    print(f"  {'per target-month (variable)':<62} ${total:9.5f}")
    share = b.fixed_total / max(i.targets, 1)
    print(f"  {'+ fixed stack costs shared by ' + str(i.targets) + ' targets':<62} ${share:9.5f}")
    print(f"  {'= per target-month':<62} ${total + share:9.5f}")
    print(
        f"  ratio to the goal (${GOAL_PER_TARGET_MONTH}/target-month): variable "
        f"{total / GOAL_PER_TARGET_MONTH:.2f}x, with fixed share "
        f"{(total + share) / GOAL_PER_TARGET_MONTH:.2f}x"
    )


def print_fixed(b: Breakdown) -> None:
    print("\n== fixed per stack and month (independent of the number of targets)")
    for name, usd in b.fixed:
        print(f"  {name:<62} ${usd:9.4f}")
    print(f"  {'total':<62} ${b.fixed_total:9.4f}")
    print("\n== optional extras (1-minute checks)")
    for name, usd in b.optional:
        print(f"  {name:<62} ${usd:9.4f}")


DASHBOARD_REFRESHES = {"one refresh": 1, "an hour on 1-minute auto-refresh": 60}
ALL_IN_GOAL_100 = 0.06  # USD per target-month, all-in at 100 targets


def dashboard_scan_gb(i: Inputs, t: dict[str, Any]) -> float:
    """GB one refresh of the dashboard's default range scans (every Logs Insights widget
    reads its log group's events of the range; Logs Insights bills bytes scanned)."""
    match = re.fullmatch(r"-PT(\d+)H", t["dashboard_start"])
    assert match, t["dashboard_start"]
    minutes = float(match.group(1)) * 60
    probe = i.targets * minutes / i.interval_min * (i.log_bytes_per_check + i.platform_log_bytes)
    dispatcher = minutes * i.dispatch_log_bytes_per_tick
    return (
        t["dashboard_probe_queries"] * probe + t["dashboard_dispatcher_queries"] * dispatcher
    ) / 1e9


def print_dashboard(i: Inputs, t: dict[str, Any]) -> None:
    """The dashboard and its scans: apart from the fixed cost (usage, not a stack fee)."""
    on = "on" if t["dashboard"] else "off"
    print(f"\n== dashboard (EnableDashboard default {on}) and Logs Insights, {i.targets} targets")
    print(f"  {'CloudWatch dashboard (the first three per account are free)':<62} $   3.0000")
    gb = dashboard_scan_gb(i, t)
    widgets = t["dashboard_probe_queries"] + t["dashboard_dispatcher_queries"]
    range_ = t["dashboard_start"].removeprefix("-PT").lower()
    for name, refreshes in DASHBOARD_REFRESHES.items():
        mb = refreshes * gb * 1e3
        label = f"Logs Insights, {widgets} widgets x {range_}, {name} ({mb:.0f} MB)"
        print(f"  {label:<62} ${refreshes * gb * PRICE['logs_insights_gb_scanned']:9.5f}")
    day_gb = i.targets * 1440 / i.interval_min * i.log_bytes_per_check / 1e9
    label = f"a saved query over 24 h of the probe's log ({day_gb * 1e3:.0f} MB)"
    print(f"  {label:<62} ${day_gb * PRICE['logs_insights_gb_scanned']:9.5f}")


def print_all_in(b: Breakdown) -> None:
    """Variable + the fixed cost shared, per target-month at 1-minute checks (no
    dashboard fee, no optional extras)."""
    print("\n== all-in per target-month at 1-minute checks (variable + fixed share)")
    for n in (10, 100, 1000):
        total = b.per_target_total + b.fixed_total / n
        line = f"{n:,} targets: ${b.per_target_total:.4f} + ${b.fixed_total:.2f} / {n:,}"
        print(f"  {line:<62} ${total:9.4f}  (${total * n:,.2f}/month)")
    at_100 = b.per_target_total + b.fixed_total / 100
    print(f"  goal at 100 targets: <= ${ALL_IN_GOAL_100:.2f} ({at_100 / ALL_IN_GOAL_100:.2f}x)")


def _lever_ms(current: Inputs, calls: float = 0.0, cpu_ms: float = 0.0) -> float:
    """Billed ms per check after removing ``calls`` AWS calls and ``cpu_ms`` of CPU
    (this machine's ms, scaled to the probe's share of a vCPU)."""
    saved = calls * LEVER_AWS_CALL_MS + cpu_ms * cpu_scale(current.probe_memory_mb)
    return max(0.0, current.probe_ms - saved)


LEVER_AWS_CALL_MS = 6.0  # --aws-call-ms default: one in-region round trip


def levers(measured: dict[str, float]) -> list[tuple[str, Any]]:
    """What each further change would save at 1-minute checks, applied one after the
    other; each maps the current Inputs to the changed Inputs."""
    call_cpu = measured.get("aws_call_cpu_ms", 0.93)
    return [
        (
            "dispatcher puts a state snapshot into the event too (0 reads, 1 call fewer; "
            "a stale snapshot can delay a change)",
            lambda i: i | {"rru_per_check": 0.0, "probe_ms": _lever_ms(Inputs(**i), 1, call_cpu)},
        ),
        (
            "ResultRetentionDays 30 -> 7",
            lambda i: i | {"result_retention_days": 7},
        ),
    ]


def print_levers(base: Inputs, measured: dict[str, float]) -> None:
    print("\n== further levers at 1-minute checks (variable cost per target-month, cumulative)")
    current = asdict(base)
    print(f"  {'as measured':<92} ${model(base).per_target_total:8.5f}")
    for name, change in levers(measured):
        current = change(current)
        print(f"  {'+ ' + name:<92} ${model(Inputs(**current)).per_target_total:8.5f}")
    for mb in (256, 512):
        net = base.probe_ms - measured["probe_cpu_ms"] * cpu_scale(base.probe_memory_mb)
        ms = net + measured["probe_cpu_ms"] * cpu_scale(mb)
        alt = Inputs(**(asdict(base) | {"probe_memory_mb": mb, "probe_ms": ms}))
        name = f"(for comparison) ProbeMemorySize {base.probe_memory_mb} -> {mb}: {ms:.0f} ms"
        print(f"  {name:<92} ${model(alt).per_target_total:8.5f}")


def print_before_after(now: Inputs, before: Inputs) -> None:
    """Each per-target line at 1-minute checks: before the cost work and now."""
    print("\n== before -> after the cost work, 1-minute checks (same model, same prices)")
    a, b = model(before), model(now)
    for (name, old), (_, new) in zip(a.per_target, b.per_target, strict=True):
        print(f"  {name.split(' (')[0]:<46} ${old:8.5f} -> ${new:8.5f}")
    total_a, total_b = a.per_target_total, b.per_target_total
    print(f"  {'per target-month (variable)':<46} ${total_a:8.5f} -> ${total_b:8.5f}")


def print_floor(base: Inputs, rtt_ms: float, round_trips: float) -> None:
    """What no handler change can remove at 1-minute checks, against the goal."""
    checks = MINUTES_PER_MONTH / base.interval_min
    gb = base.probe_memory_mb / 1024
    wait_ms = round_trips * rtt_ms
    lines = [
        ("Lambda probe requests (one per check)", checks * PRICE["lambda_request"]),
        (
            f"Lambda duration of the SMTP conversation alone ({round_trips:g} x {rtt_ms:g} ms "
            f"at {base.probe_memory_mb} MB)",
            checks * wait_ms / 1000 * gb * PRICE["lambda_gb_s_arm64"],
        ),
    ]
    print("\n== the floor at 1-minute checks (what any design pays)")
    for name, usd in lines:
        print(f"  {name:<62} ${usd:9.5f}")
    floor = sum(v for _, v in lines)
    print(
        f"  {'floor':<62} ${floor:9.5f} = {floor / GOAL_PER_TARGET_MONTH:.2f}x the goal; "
        f"a result item per check would add ${checks * PRICE['ddb_wru']:.5f}"
    )


# ----------------------------------------------------------------------------- locations
# What each location's vote adds to a check, and each slot's decision: counted at the
# boto3 boundary around the real cast_vote with the DynamoDB stores (votes, state,
# results, location health) on DynamoDB Local, a passing slot that changes nothing
# (python bench/decision.py --backends ddb-local --call-ms 0 --count, 2026-12-08; item
# sizes by DynamoDB's sizing rules, HTTP bytes as sent; CPU on the loaded team machine).
LOCATION_MEASURED: dict[str, float] = {
    "vote_calls": 3.0,  # GetItem state (as any check), PutItem vote, Query the slot's votes
    "vote_wru": 1.0,  # the vote item: 288 B
    "vote_rru": 1.5,  # the state (eventually consistent) + the slot's votes (consistent)
    "vote_item_bytes": 288.0,
    "decide_calls": 2.0,  # DeleteItem of the open slot (the claim), GetItem state
    "decide_wru": 1.0,
    "decide_rru": 1.0,  # apply_result reads the state again, consistent
    # Claim attempts per slot: 1 when the votes arrive one after another; 2.3-3 when all
    # arrive together (each location sees the slot complete; a refused conditional
    # delete bills a write unit too).
    "claims_per_slot": 1.0,
    "slot_wru": 1.0,  # the dispatcher's open-slot item (~250 B, BatchWriteItem)
    "vote_request_bytes": 3177.0,  # a vote's three requests, headers included (to home)
    "vote_response_bytes": 3647.0,  # their responses (from home)
    "decide_request_bytes": 1790.0,
    "decide_response_bytes": 3275.0,
    "vote_cpu_ms": 3.6,  # the vote's own client CPU beyond a check's (5.4 ms - its state read)
    "decide_cpu_ms": 3.5,  # the claim, the state read, the verdict
    # With probe regions the dispatcher sends each location's events in relays of 100
    # (one Invoke each, 27 KB) and each location's function invokes itself per event
    # (python bench/dispatch_locations.py, 10,000 targets x 3, the loaded team machine):
    # the dispatcher's CPU 0.26-0.29 ms per target (one location: 0.52 ms); a relay's CPU
    # 0.46-0.56 ms per event (the higher taken), its in-region invokes 16 at a time.
    "dispatch_cpu_ms_per_target": 0.29,
    "dispatch_cpu_ms_per_target_one": 0.52,
    "relay_events": 100.0,
    "relay_cpu_ms_per_event": 0.56,
    "relay_workers": 16.0,
    "invoke_request_bytes": 272.0,  # a relay's 27 KB per event (a direct Invoke: ~1.5 KB)
    # CloudWatch Logs of the deciding location (python bench/dispatch_locations.py
    # --targets 200 --run-probes, the template's LogLevel INFO): a slot that changes
    # nothing still logs "slot decided" and "vote done" at INFO, ~960 B more than a vote.
    "decide_log_bytes": 960.0,
    # Once a tick (the dispatcher, LocationWatch): the slots sent per location (one
    # UpdateItem), the tick's counts read back, each location's health item read (cached
    # 60 s per process; a probe container reads its own location's once a minute).
    "health_wru_per_tick": 1.0,
    # A vote item expires 2 days after its slot (or with the results, if sooner).
    "vote_retention_days": 2.0,
    # A lever's switch: a probe region reads the state (1) or finds it in the event (0).
    "region_state_reads": 1.0,
    "health_rru_per_tick_per_location": 2.0,
}
LOCATIONS_GOAL_100 = 0.25  # USD per target-month all-in at 100 targets, 3 locations
PRICE_CROSS_REGION_GB = 0.02  # data transfer between AWS regions (out of the sender's)
PRICE_ELASTIC_IP_MONTH = 0.005 * 730  # public IPv4 address of a NAT gateway
PROBE_REGION_TEMPLATE = ROOT / "infra" / "probe-region.yaml"


def probe_region_fixed() -> list[tuple[str, float]]:
    """Monthly fixed cost of one probe-region stack, from its template's resources."""
    if not PROBE_REGION_TEMPLATE.exists():
        return [("(no infra/probe-region.yaml: no fixed resources counted)", 0.0)]
    text = PROBE_REGION_TEMPLATE.read_text(encoding="utf-8")
    alarms = len(re.findall(r"Type:\s*AWS::CloudWatch::Alarm\b", text))
    keys = len(re.findall(r"Type:\s*AWS::KMS::Key\b", text))
    lines = [
        ("probe function, role, log group (no charge while idle)", 0.0),
        (f"CloudWatch alarms ({alarms})", alarms * PRICE["cw_alarm_month"]),
    ]
    if keys:
        lines.append((f"KMS keys ({keys})", keys * PRICE["kms_key_month"]))
    return lines


@dataclass
class LocationLine:
    name: str
    home: float  # billed to the home stack (home region)
    regional: float  # billed to the probe-region stacks together

    @property
    def total(self) -> float:
        return self.home + self.regional


def locations_model(
    base: Inputs,
    n: int,
    *,
    rtt_ms: float,
    round_trips: float,
    cross_ms: float,
    aws_call_ms: float,
    probe_cpu_ms: float,
    cpu_scale_: float,
    m: dict[str, float],
) -> list[LocationLine]:
    """What ``n`` locations add per target-month to one location's check (``base``)."""
    checks = MINUTES_PER_MONTH / base.interval_min
    extra = n - 1  # probe regions
    gb_s = PRICE["lambda_gb_s_arm64"] * base.probe_memory_mb / 1024
    scale = cpu_scale(base.probe_memory_mb) * cpu_scale_
    # Who decides: the location whose vote completes the slot, usually a probe region
    # (their calls to the home region's tables take longest).
    regional_decides = extra / n
    decide_ms = m["decide_cpu_ms"] * scale
    # A probe region's check: the SMTP conversation, then every AWS call crosses regions.
    state_reads = m["region_state_reads"]  # 0: a state snapshot in the event instead
    region_calls = m["vote_calls"] - 1 + state_reads
    region_ms = (
        round_trips * rtt_ms + region_calls * cross_ms + (probe_cpu_ms + m["vote_cpu_ms"]) * scale
    )
    # The home location's check gets the vote's two calls more (its state read was there).
    home_ms = (m["vote_calls"] - 1) * aws_call_ms + m["vote_cpu_ms"] * scale
    decide_region_ms = m["decide_calls"] * cross_ms + decide_ms
    decide_home_ms = m["decide_calls"] * aws_call_ms + decide_ms
    claims = m["claims_per_slot"]
    wru = n * m["vote_wru"] + m["decide_wru"] * claims + m["slot_wru"]
    rru = extra * 0.5 * state_reads + (m["vote_rru"] - 0.5) * n + m["decide_rru"]
    vote_days = min(m["vote_retention_days"], base.result_retention_days)
    retained = vote_days * 1440 / base.interval_min * n
    vote_gb = retained * (m["vote_item_bytes"] + 100) / 1e9
    # Billed to the sender's region: the invoke and every response leave the home
    # region, a probe region's requests leave that region.
    share = region_calls / m["vote_calls"]  # of a vote's bytes, by its calls
    home_out = extra * (m["invoke_request_bytes"] + share * m["vote_response_bytes"])
    home_out += regional_decides * m["decide_response_bytes"]
    region_out = extra * share * m["vote_request_bytes"]
    region_out += regional_decides * m["decide_request_bytes"]
    home_out_gb, region_out_gb = checks * home_out / 1e9, checks * region_out / 1e9
    log_bytes = base.log_bytes_per_check + base.platform_log_bytes
    log_gb = checks * extra * log_bytes / 1e9
    log_price = (
        PRICE["logs_ingest_gb"] + base.log_retention_days / 30 * PRICE["logs_storage_gb_month"]
    )
    decide_log_gb = checks * m["decide_log_bytes"] / 1e9
    # The dispatcher's CPU per target, against one location's (per target and tick).
    disp_ms = m["dispatch_cpu_ms_per_target"] - m["dispatch_cpu_ms_per_target_one"]
    # Relays: each location's events come in batches; its function re-invokes each in
    # its region (every location, the home one too): requests and time per event.
    relay_ms = m["relay_cpu_ms_per_event"] * scale + aws_call_ms / m["relay_workers"]
    relay_requests = checks / m["relay_events"]
    d_gb_s = PRICE["lambda_gb_s_arm64"] * base.dispatcher_memory_mb / 1024
    return [
        LocationLine(
            f"Lambda probe requests ({extra} more per check)",
            0.0,
            checks * extra * PRICE["lambda_request"],
        ),
        LocationLine(
            f"Lambda probe duration, probe regions ({region_ms:.0f} ms x "
            f"{base.probe_memory_mb} MB each: {region_calls:g} calls x {cross_ms:g} ms)",
            0.0,
            checks * extra * region_ms / 1000 * gb_s,
        ),
        LocationLine(
            f"Lambda probe duration, home location's vote (+{home_ms:.0f} ms)",
            checks * home_ms / 1000 * gb_s,
            0.0,
        ),
        LocationLine(
            f"Lambda duration of the decision (claim + state read, {claims:g} per slot)",
            checks * (1 - regional_decides) * decide_home_ms / 1000 * gb_s * claims,
            checks * regional_decides * decide_region_ms / 1000 * gb_s * claims,
        ),
        LocationLine(
            f"DynamoDB writes ({wru:g} WRU/slot: open slot, {n} votes, claim)",
            checks * wru * PRICE["ddb_wru"],
            0.0,
        ),
        LocationLine(
            f"DynamoDB reads ({rru:g} RRU/slot: regional state reads, votes, decision)",
            checks * rru * PRICE["ddb_rru"],
            0.0,
        ),
        LocationLine(
            f"DynamoDB vote storage ({n} per slot, {vote_days:g} d)",
            vote_gb * PRICE["ddb_storage_gb_month"],
            0.0,
        ),
        LocationLine(
            f"Cross-region data transfer ({(home_out_gb + region_out_gb) * 1e3:.0f} MB: "
            "relays, votes, decisions)",
            home_out_gb * PRICE_CROSS_REGION_GB,
            region_out_gb * PRICE_CROSS_REGION_GB,
        ),
        LocationLine(
            f"CloudWatch Logs of the decision ({m['decide_log_bytes']:.0f} B/slot at INFO)",
            (1 - regional_decides) * decide_log_gb * log_price,
            regional_decides * decide_log_gb * log_price,
        ),
        LocationLine(
            f"CloudWatch Logs of the probe regions ({log_bytes:.0f} B/check)",
            0.0,
            log_gb
            * (
                PRICE["logs_ingest_gb"]
                + base.log_retention_days / 30 * PRICE["logs_storage_gb_month"]
            ),
        ),
        LocationLine(
            f"Dispatcher duration share ({disp_ms:+.2f} ms/target: relays, open slots)",
            checks * disp_ms / 1000 * d_gb_s,
            0.0,
        ),
        LocationLine(
            f"Relays: 1 request per {m['relay_events']:g} events, {relay_ms:.1f} ms per event "
            f"at {base.probe_memory_mb} MB",
            relay_requests * PRICE["lambda_request"] + checks * relay_ms / 1000 * gb_s,
            extra * (relay_requests * PRICE["lambda_request"] + checks * relay_ms / 1000 * gb_s),
        ),
    ]


LOCATION_LEVERS: list[tuple[str, dict[str, float]]] = [
    (
        "the decision reuses the state its vote read (no second read)",
        {"decide_calls": 1, "decide_rru": 0, "decide_request_bytes": 900},
    ),
    (
        "probe regions get a state snapshot in the event (no state read)",
        {"region_state_reads": 0},
    ),
    (
        "a decision that changes nothing logs at DEBUG (as a check does)",
        {"decide_log_bytes": 0},
    ),
]


def print_location_levers(
    n: int, fixed: float, variable: Callable[[Inputs, dict[str, float]], float], base: Inputs
) -> None:
    """What each change would save, cumulative, all-in per target-month at 100 targets."""
    print(f"\n== levers, {n} locations, 1-minute checks (all-in at 100 targets, cumulative)")
    current = dict(LOCATION_MEASURED)
    print(f"  {'as measured':<72} ${variable(base, current) + fixed / 100:9.4f}")
    for name, change in LOCATION_LEVERS:
        current |= change
        print(f"  {'+ ' + name:<72} ${variable(base, current) + fixed / 100:9.4f}")


def print_locations(n: int, base: Inputs, base_fixed: float, lines: list[LocationLine]) -> float:
    """The table of what ``n`` locations add; returns the fixed cost of all the stacks."""
    extra = n - 1
    print(
        f"\n== {n} locations (the home region + {extra} probe regions), 1-minute checks: "
        "what they add per target-month"
    )
    print(f"  {'':<72} {'home':>9} {'regions':>9} {'total':>9}")
    for line in lines:
        print(f"  {line.name:<72} ${line.home:8.5f} ${line.regional:8.5f} ${line.total:8.5f}")
    added = sum(x.total for x in lines)
    home = sum(x.home for x in lines)
    print(f"  {'added per target-month':<72} ${home:8.5f} ${added - home:8.5f} ${added:8.5f}")
    variable = model(base).per_target_total + added
    print(
        f"  {'one location (above) + added = variable per target-month':<72} "
        f"{'':>19} ${variable:8.5f}"
    )
    regional = probe_region_fixed()
    regional_total = sum(v for _, v in regional)
    print("\n== fixed per stack and month")
    print(f"  {'home stack (as above)':<72} ${base_fixed:9.4f}")
    for name, usd in regional:
        print(f"  {'each probe-region stack: ' + name:<72} ${usd:9.4f}")
    m = LOCATION_MEASURED
    health = MINUTES_PER_MONTH * (
        m["health_wru_per_tick"] * PRICE["ddb_wru"]
        + (1 + n * m["health_rru_per_tick_per_location"]) * PRICE["ddb_rru"]
    )
    print(f"  {'home stack: location health (tick counters, health reads)':<72} ${health:9.4f}")
    fixed = base_fixed + health + extra * regional_total
    print(f"  {f'total, home + {extra} probe-region stacks':<72} ${fixed:9.4f}")
    nat = PRICE["nat_gateway_month"] + PRICE_ELASTIC_IP_MONTH
    print(
        f"  {'apart: VPC + NAT gateway + Elastic IP per region (fixed egress address)':<72} "
        f"${nat:9.4f}  (x {n} regions: ${n * nat:,.2f})"
    )
    print(f"\n== all-in per target-month, {n} locations, 1-minute checks (NAT gateways apart)")
    for targets in (10, 100, 1000):
        total = variable + fixed / targets
        label = f"{targets:,} targets: ${variable:.4f} + ${fixed:.2f} / {targets:,}"
        print(f"  {label:<72} ${total:9.4f}  (${total * targets:,.2f}/month)")
    at_100 = variable + fixed / 100
    if n != 3:
        return fixed  # the goal is for 3 locations
    print(
        f"  goal at 100 targets: <= ${LOCATIONS_GOAL_100:.2f} ({at_100 / LOCATIONS_GOAL_100:.2f}x,"
        f" {'met' if at_100 <= LOCATIONS_GOAL_100 else 'NOT met'})"
    )
    return fixed


# ----------------------------------------------------------------------------- measure
def _dynamo_size(value: dict[str, Any]) -> int:
    """Bytes of one AttributeValue by DynamoDB's item-size rules (close approximation)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = len(v.lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _dynamo_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(_dynamo_size(x) + 1 for x in v)
    if kind in ("SS", "NS", "BS"):
        return sum(_dynamo_size({kind[0]: x}) for x in v)
    return 0


def item_size(item: dict[str, Any]) -> int:
    return sum(len(k.encode()) + _dynamo_size(v) for k, v in item.items())


class _CountingStdout(io.TextIOBase):
    """sys.stdout for the child: what Lambda would ship to CloudWatch Logs."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines: list[str] = []
        self._partial = ""

    def write(self, s: str) -> int:
        self.bytes += len(s.encode())
        text = self._partial + s
        *done, self._partial = text.split("\n")
        self.lines.extend(line for line in done if line.strip())
        return len(s)

    def writable(self) -> bool:
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child(config_path: str) -> None:
    """Runs in a fresh interpreter: only the Lambda code, instrumented at boto3's edge."""
    cfg = json.loads(Path(config_path).read_text())
    sys.path[:0] = cfg["path"]  # the Lambda code (and, for python3.13, a boto3-only dir)
    sink = _CountingStdout()
    sys.stdout = sink  # before the handlers import: Powertools binds its stream then
    import botocore.client

    original = botocore.client.BaseClient._make_api_call
    calls: list[dict[str, Any]] = []

    def counted(self: Any, op: str, params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        try:
            resp = original(self, op, params)
        except Exception:
            resp = None
            if op in ("PutItem", "UpdateItem"):  # a failed condition still bills a write
                calls.append({"service": service, "op": op, "wru": 1.0, "rru": 0.0})
            raise
        wru = rru = 0.0
        size = 0
        if service == "dynamodb":
            factor = 1.0 if params.get("ConsistentRead") else 0.5
            if op == "PutItem":
                size = item_size(params["Item"])
                wru = math.ceil(size / 1024)
            elif op == "UpdateItem":
                got = original(
                    self, "GetItem", {"TableName": params["TableName"], "Key": params["Key"]}
                )
                wru = max(1, math.ceil(item_size(got.get("Item", {})) / 1024))
            elif op == "GetItem":
                rru = max(1, math.ceil(item_size(resp.get("Item", {})) / 4096)) * factor
            elif op == "BatchGetItem":  # billed like one GetItem per key, per table's mode
                for tname, req in params["RequestItems"].items():
                    f = 1.0 if req.get("ConsistentRead") else 0.5
                    got = (resp.get("Responses") or {}).get(tname, [])
                    sizes = [item_size(it) for it in got] + [0] * (len(req["Keys"]) - len(got))
                    rru += sum(max(1, math.ceil(n / 4096)) * f for n in sizes)
            elif op in ("Query", "Scan"):
                size = sum(item_size(it) for it in resp.get("Items", []))
                rru = max(1, math.ceil(size / 4096)) * factor
        table = str(params.get("TableName", ""))
        calls.append(
            {"service": service, "op": op, "table": table, "bytes": size, "wru": wru, "rru": rru}
        )
        return resp

    botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]

    class Ctx:
        function_name = "smtpwatch-probe"
        function_version = "$LATEST"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:smtpwatch-probe"
        aws_request_id = "00000000-0000-4000-8000-000000000000"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 60_000

    out: dict[str, Any] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    from smtpwatch.handlers import probe as probe_handler

    out["import_ms"] = (time.perf_counter() - t0) * 1000
    out["import_cpu_ms"] = (time.process_time() - c0) * 1000
    base = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    runs = []
    for n in range(cfg["checks"]):
        event = {
            "target_id": cfg["target_id"],
            "scheduled_at": (base + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            # as the dispatcher sends it: the item as scanned (adapters.lambda_invoker)
            "target": cfg["target_item"],
        }
        b0, l0, k0 = sink.bytes, len(sink.lines), len(calls)
        t0, c0 = time.perf_counter(), time.process_time()
        result = probe_handler.handler(event, Ctx())
        runs.append(
            {
                "wall_ms": (time.perf_counter() - t0) * 1000,
                "cpu_ms": (time.process_time() - c0) * 1000,
                "log_bytes": sink.bytes - b0,
                "log_lines": len(sink.lines) - l0,
                "calls": calls[k0:],
                "status": (result or {}).get("status"),
            }
        )
    out["probe"] = runs
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["probe_log_sample"] = sink.lines[-runs[-1]["log_lines"] :] if runs else []

    from smtpwatch.handlers import dispatcher as dispatcher_handler

    ticks = []
    tick0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    for n in range(cfg["ticks"]):
        event = {"time": (tick0 + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        b0, k0 = sink.bytes, len(calls)
        t0, c0 = time.perf_counter(), time.process_time()
        summary = dispatcher_handler.handler(event, Ctx())
        ticks.append(
            {
                "wall_ms": (time.perf_counter() - t0) * 1000,
                "cpu_ms": (time.process_time() - c0) * 1000,
                "log_bytes": sink.bytes - b0,
                "calls": calls[k0:],
                "summary": summary,
            }
        )
    out["ticks"] = ticks
    # Client-side CPU of one boto3 call (validation, signing, HTTP, parsing), for
    # reference; the servers run in other processes.
    import boto3

    ddb = boto3.client("dynamodb")
    key = {"target_id": {"S": cfg["target_id"]}}
    table = os.environ["TARGETS_TABLE"]
    ddb.get_item(TableName=table, Key=key)
    c0 = time.process_time()
    for _ in range(100):
        ddb.get_item(TableName=table, Key=key)
    out["aws_call_cpu_ms"] = (time.process_time() - c0) * 1000 / 100
    metrics: set[str] = set()
    for line in sink.lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
            for dims in directive.get("Dimensions", [[]]):
                key = tuple(sorted((d, str(doc.get(d))) for d in dims))
                for m in directive.get("Metrics", []):
                    metrics.add(f"{directive.get('Namespace')}/{m['Name']}/{key}")
    out["emf_metrics"] = sorted(metrics)
    Path(cfg["out"]).write_text(json.dumps(out))


class _AcceptInvokes:
    """A loopback stand-in for the Lambda Invoke API: answers 202 to every async invoke
    (moto would try to run the function). Counts them."""

    def __init__(self) -> None:
        import http.server
        import threading

        owner = self
        self.count = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real endpoint

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.count += 1
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def measure(
    checks: int,
    dispatch_targets: int,
    ticks: int,
    log_level: str,
    python: str = sys.executable,
    code_path: str = str(ROOT / "functions"),
) -> dict[str, Any]:
    """Start moto (own process) + an SMTP server, seed the stack, run the child."""
    sys.path[:0] = [str(ROOT / "tests" / "aws"), str(ROOT / "functions")]
    import boto3
    from template_tables import create_tables

    from smtpwatch.adapters.aws_secrets import encode_secret
    from smtpwatch.adapters.dynamodb import to_item
    from smtpwatch.testing.servers import DEFAULT_HOSTNAME, Certificates, SmtpServer

    port = _free_port()
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_EC2_METADATA_DISABLED="true",
    )
    os.environ.update({k: env[k] for k in env if k.startswith("AWS_")})
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = None
    invokes = _AcceptInvokes()
    env["AWS_ENDPOINT_URL_LAMBDA"] = invokes.url
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        ddb = boto3.client("dynamodb")
        tables = create_tables(ddb, prefix="bench")
        topic = boto3.client("sns").create_topic(Name="bench-alerts")["TopicArn"]
        password = "bench-password-never-logged"
        boto3.client("ssm").put_parameter(
            Name="/smtpwatch/bench",
            Type="SecureString",
            Value=encode_secret(password, [DEFAULT_HOSTNAME], allow_unverified=True),
        )
        certs = Certificates()
        server = SmtpServer(
            "127.0.0.1", cert=certs.valid(), starttls=True, credentials={"monitor": password}
        ).start()
        target = {
            "target_id": "bench",
            "host": DEFAULT_HOSTNAME,
            "port": server.port,
            "encryption": "explicit",
            "dns_hosts": [f"127.0.0.1 {DEFAULT_HOSTNAME}"],
            "ca_bundle": certs.ca_pem,
            "login": True,
            "username": "monitor",
            "password_ref": "ssm:/smtpwatch/bench",
            "interval_s": 60,
            "recheck_delay_s": 0,
        }
        ddb.put_item(TableName=tables["TargetsTable"], Item=to_item(target))
        requests = [
            {
                "PutRequest": {
                    "Item": to_item(
                        {"target_id": f"t{n:05d}", "host": f"mx{n}.example.com", "interval_s": 60}
                    )
                }
            }
            for n in range(dispatch_targets)
        ]
        for start in range(0, len(requests), 25):
            ddb.batch_write_item(
                RequestItems={tables["TargetsTable"]: requests[start : start + 25]}
            )
        env.update(
            TARGETS_TABLE=tables["TargetsTable"],
            STATE_TABLE=tables["StateTable"],
            RESULTS_TABLE=tables["ResultsTable"],
            ALERT_TOPIC_ARN=topic,
            PROBE_FUNCTION_NAME="bench-probe",
            SECRETS_PREFIX="/smtpwatch/",
            EHLO_NAME="monitor.example.com",
            RESULT_RETENTION_DAYS="30",
            POWERTOOLS_SERVICE_NAME="smtpwatch",
            POWERTOOLS_METRICS_NAMESPACE="Smtpwatch",
            POWERTOOLS_LOG_LEVEL=log_level,
            SMTPWATCH_TRACING="false",
            SMTPWATCH_METRICS="all" if template_defaults()["detailed_metrics"] else "alarms",
            SMTPWATCH_IN_VPC="false",
            SMTPWATCH_ALLOW_LOOPBACK="1",  # the bench server is on loopback (guarded on AWS)
        )
        with tempfile.TemporaryDirectory() as tmp:
            cfg = {
                "checks": checks,
                "ticks": ticks,
                "target_id": "bench",
                "target_item": to_item(target),
                "out": str(Path(tmp) / "out.json"),
                "path": code_path.split(os.pathsep),
            }
            (Path(tmp) / "cfg.json").write_text(json.dumps(cfg))
            subprocess.run(
                [python, "-I", __file__, "--child", str(Path(tmp) / "cfg.json")],
                env=env,
                check=True,
                timeout=600,
            )
            result: dict[str, Any] = json.loads((Path(tmp) / "out.json").read_text())
        result["dispatch_targets"] = dispatch_targets + 1
        result["invokes_received"] = invokes.count
        return result
    finally:
        invokes.stop()
        if server is not None:
            server.stop()
        moto.terminate()
        moto.wait(timeout=10)


def summarize(raw: dict[str, Any]) -> dict[str, float]:
    """The MEASURED figures from one --measure run (steady state: skip the first check)."""
    warm = raw["probe"][1:] or raw["probe"]

    def med(key: str, runs: list[dict[str, Any]]) -> float:
        return float(statistics.median(r[key] for r in runs))

    def per_run(fn: Any, runs: list[dict[str, Any]]) -> float:
        return float(statistics.median(fn(r) for r in runs))

    result_puts = [
        c["bytes"]
        for r in raw["probe"]  # the first check stores its result (pending -> up)
        for c in r["calls"]
        if c["op"] == "PutItem" and "ResultsTable" in c.get("table", "")
    ]
    steady_tick = raw["ticks"][-1]
    n_targets = raw["dispatch_targets"]
    due = steady_tick["summary"].get("due") or steady_tick["summary"].get("dispatched") or n_targets
    scans = sum(c["rru"] for c in steady_tick["calls"] if c["op"] == "Scan")
    tick_writes = sum(c["wru"] for c in steady_tick["calls"])
    return {
        "probe_cpu_ms": med("cpu_ms", warm),
        "probe_wall_ms_loopback": med("wall_ms", warm),
        "probe_aws_calls": per_run(
            lambda r: sum(c["service"] != "lambda" for c in r["calls"]), warm
        ),
        "probe_wru": per_run(lambda r: sum(c["wru"] for c in r["calls"]), warm),
        "probe_rru": per_run(lambda r: sum(c["rru"] for c in r["calls"]), warm),
        "probe_log_bytes": med("log_bytes", warm),
        "probe_log_events": med("log_lines", warm),
        "result_item_bytes": float(statistics.median(result_puts)) if result_puts else 0.0,
        "cold_cpu_ms": raw["import_cpu_ms"] + raw["probe"][0]["cpu_ms"],
        "cold_wall_ms": raw["import_ms"] + raw["probe"][0]["wall_ms"],
        "emf_metrics": float(len(raw["emf_metrics"])),
        "dispatch_due": float(due),
        "dispatch_cpu_ms_per_target": steady_tick["cpu_ms"] / max(due, 1),
        "aws_call_cpu_ms": raw["aws_call_cpu_ms"],
        "dispatch_wall_ms": steady_tick["wall_ms"],
        "dispatch_rru_per_target": scans / n_targets,
        "dispatch_wru_per_tick": tick_writes,
        "dispatch_log_bytes_per_tick": float(steady_tick["log_bytes"]),
        "max_rss_mb": raw["max_rss_mb"],
    }


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--measure", action="store_true", help="measure the handlers first (~1 min)")
    p.add_argument("--checks", type=int, default=25, help="probe checks to measure")
    p.add_argument(
        "--dispatch-targets", type=int, default=500, help="targets for the dispatcher measurement"
    )
    p.add_argument("--log-level", default="INFO", help="POWERTOOLS_LOG_LEVEL while measuring")
    p.add_argument("--targets", type=int, default=100, help="targets sharing the fixed costs")
    p.add_argument("--probe-memory-mb", type=int, help="default: template ProbeMemorySize")
    p.add_argument(
        "--dispatcher-memory-mb", type=int, help="default: template DispatcherMemorySize"
    )
    p.add_argument("--probe-ms", type=float, help="billed ms per check (overrides the model)")
    p.add_argument("--dispatcher-ms", type=float, help="dispatcher billed ms per due target")
    p.add_argument("--rtt-ms", type=float, default=20.0, help="round trip to a monitored server")
    p.add_argument(
        "--smtp-round-trips",
        type=float,
        default=9.0,
        help="connect, banner, EHLO, STARTTLS, TLS, EHLO, AUTH, QUIT",
    )
    p.add_argument("--aws-call-ms", type=float, default=6.0, help="one in-region AWS API call")
    p.add_argument(
        "--cpu-scale",
        type=float,
        default=1.0,
        help="Lambda arm64 vCPU time / this machine's CPU time for the same work",
    )
    p.add_argument(
        "--secret-reads-per-month",
        type=float,
        default=MINUTES_PER_MONTH / 5,
        help="secret reads per target with login (Powertools cache: 300 s per container)",
    )
    p.add_argument(
        "--locations",
        type=int,
        default=1,
        help="locations per check (the home region + probe regions): what they add",
    )
    p.add_argument(
        "--cross-region-ms",
        type=float,
        default=80.0,
        help="one AWS call from a probe region to the home region's tables",
    )
    p.add_argument("--json", action="store_true", help="print the measurement as JSON too")
    p.add_argument(
        "--lambda-python",
        default=sys.executable,
        help="interpreter for the measured handlers, e.g. python3.13",
    )
    p.add_argument(
        "--lambda-path",
        default=str(ROOT / "functions"),
        help="their sys.path (os.pathsep-separated), e.g. the sam build artifact "
        "and a boto3-only directory, as in Lambda",
    )
    args = p.parse_args(argv)

    if args.child:
        _child(args.child)
        return 0

    measured = dict(MEASURED)
    if args.measure:
        raw = measure(
            args.checks,
            args.dispatch_targets,
            3,
            args.log_level,
            args.lambda_python,
            args.lambda_path,
        )
        summary = summarize(raw)
        measured.update(summary)
        print("== measured (this machine, loopback; python bench/cost.py --measure)")
        for k, v in summary.items():
            print(f"  {k:<32} {v:10.2f}")
        print(f"  probe statuses: {sorted({r['status'] for r in raw['probe']})}")
        print(f"  EMF metrics: {len(raw['emf_metrics'])}")
        calls = [f"{c['service']}:{c['op']}" for c in raw["probe"][-1]["calls"]]
        print(f"  AWS calls in one warm check: {calls}")
        print(f"  invokes received by the stand-in Invoke API: {raw['invokes_received']}")
        print(f"  dispatcher tick summaries: {[t['summary'] for t in raw['ticks']]}")
        if args.json:
            print(
                json.dumps(
                    {
                        "summary": summary,
                        "log_sample": raw["probe_log_sample"],
                        "emf_metrics": raw["emf_metrics"],
                    },
                    indent=1,
                )
            )

    t = template_defaults()
    if not args.measure and not t["detailed_metrics"]:
        # MEASURED holds the EMF figures; the template keeps only the alarms' metrics.
        measured["probe_log_bytes"] = MEASURED["probe_log_bytes_alarms_only"]
        measured["emf_metrics"] = float(t["alarm_metrics"])
    probe_mb = args.probe_memory_mb or t["probe_memory_mb"]
    disp_mb = args.dispatcher_memory_mb or t["dispatcher_memory_mb"]
    net_ms = args.smtp_round_trips * args.rtt_ms + measured["probe_aws_calls"] * args.aws_call_ms
    cpu_ms = measured["probe_cpu_ms"] * args.cpu_scale * cpu_scale(probe_mb)
    probe_ms = args.probe_ms if args.probe_ms is not None else net_ms + cpu_ms
    disp_ms = (
        args.dispatcher_ms
        if args.dispatcher_ms is not None
        else measured["dispatch_cpu_ms_per_target"] * args.cpu_scale * cpu_scale(disp_mb)
    )
    print("\n== inputs")
    print(
        f"  probe: {probe_mb} MB, {probe_ms:.0f} ms billed per check"
        + (
            ""
            if args.probe_ms is not None
            else f" = network {net_ms:.0f} ms ({args.smtp_round_trips:g} SMTP round trips x "
            f"{args.rtt_ms:g} ms + {measured['probe_aws_calls']:g} AWS calls x "
            f"{args.aws_call_ms:g} ms)"
            f" + CPU {measured['probe_cpu_ms']:.1f} ms x {cpu_scale(probe_mb) * args.cpu_scale:.1f}"
            f" (share of a vCPU at {probe_mb} MB)"
        )
    )
    print(
        f"  dispatcher: {disp_mb} MB, {disp_ms:.2f} ms per due target; template "
        f"SystemLogLevel {t['system_log_level']} (no START/END/REPORT lines)"
    )
    print(
        f"  per steady check: {measured['probe_wru']:g} WRU, {measured['probe_rru']:g} RRU, "
        f"{measured['probe_log_bytes']:.0f} log bytes; a stored result item "
        f"~{measured['result_item_bytes']:.0f} B, one per {t['passing_result_s']} s "
        "for a passing target (PassingResultSeconds)"
    )
    platform = 0.0 if t["system_log_level"] in ("WARN", "ERROR", "FATAL") else 700.0
    b1 = None
    for interval in (1, 5):
        inputs = Inputs(
            interval_min=interval,
            targets=args.targets,
            probe_memory_mb=probe_mb,
            dispatcher_memory_mb=disp_mb,
            probe_ms=probe_ms,
            dispatcher_ms_per_target=disp_ms,
            dispatcher_ms_per_tick=measured["dispatch_cpu_ms_per_tick"] * cpu_scale(disp_mb),
            wru_per_check=measured["probe_wru"],
            rru_per_check=measured["probe_rru"],
            passing_result_s=t["passing_result_s"],
            sample_extra_ms=args.aws_call_ms
            + measured["aws_call_cpu_ms"] * args.cpu_scale * cpu_scale(probe_mb),
            log_bytes_per_check=measured["probe_log_bytes"],
            result_item_bytes=measured["result_item_bytes"],
            result_retention_days=t["result_retention_days"],
            log_retention_days=t["log_retention_days"],
            dispatch_rru_per_target=measured["dispatch_rru_per_target"],
            dispatch_wru_per_tick=measured["dispatch_wru_per_tick"],
            dispatch_log_bytes_per_tick=measured["dispatch_log_bytes_per_tick"],
            alarms=t["alarms"],
            topic_key=t["topic_key"],
            emf_metrics=measured["emf_metrics"],
            platform_log_bytes=platform,
            secret_reads_per_month=args.secret_reads_per_month,
        )
        b = model(inputs)
        print_breakdown(inputs, b)
        if interval == 1:
            b1 = b
            inputs_1min = inputs
    assert b1 is not None
    print_fixed(b1)
    net_before = args.smtp_round_trips * args.rtt_ms + BEFORE["probe_aws_calls"] * args.aws_call_ms
    before = asdict(inputs_1min) | {
        "probe_ms": net_before + BEFORE["probe_cpu_ms"] * args.cpu_scale * cpu_scale(probe_mb),
        "wru_per_check": BEFORE["probe_wru"],
        "rru_per_check": BEFORE["probe_rru"],
        "passing_result_s": int(BEFORE["passing_result_s"]),
        "log_bytes_per_check": BEFORE["probe_log_bytes"],
        "result_item_bytes": BEFORE["result_item_bytes"],
    }
    if args.probe_ms is None:
        print_before_after(inputs_1min, Inputs(**before))
    print_dashboard(inputs_1min, t)
    print_all_in(b1)
    print_floor(inputs_1min, args.rtt_ms, args.smtp_round_trips)
    print_levers(inputs_1min, measured)
    if args.locations > 1:

        def added(base: Inputs, m: dict[str, float]) -> list[LocationLine]:
            return locations_model(
                base,
                args.locations,
                rtt_ms=args.rtt_ms,
                round_trips=args.smtp_round_trips,
                cross_ms=args.cross_region_ms,
                aws_call_ms=args.aws_call_ms,
                probe_cpu_ms=measured["probe_cpu_ms"],
                cpu_scale_=args.cpu_scale,
                m=m,
            )

        def variable(base: Inputs, m: dict[str, float]) -> float:
            return model(base).per_target_total + sum(x.total for x in added(base, m))

        lines = added(inputs_1min, LOCATION_MEASURED)
        fixed = print_locations(args.locations, inputs_1min, b1.fixed_total, lines)
        print_location_levers(args.locations, fixed, variable, inputs_1min)
        five = variable(inputs, LOCATION_MEASURED) + fixed / 100
        print(f"  {'(for comparison) 5-minute checks, as measured':<72} ${five:9.4f}")
    if args.json and not args.measure:
        print(json.dumps(asdict(inputs), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
