"""The probe Lambda: one check of one target per event ``{"target_id", "scheduled_at"}``,
optionally with ``"target"``: the target item as the dispatcher scanned it, in DynamoDB's
typed JSON form (``{"target_id": {"S": "mx1"}, "port": {"N": "587"}, ...}``).

Thin by design: load the target item, build the per-invocation secret resolver, and
hand everything to ``service.check.run_check`` (the same check the local scheduler
runs: dedupe, secret, probe, re-check, store, alert state machine, publish).

- The item comes from the event when ``"target"`` is there, is in wire form and names
  the event's ``target_id``; else (absent, malformed, another id: a warning is logged)
  from the targets table, as before. Either way the same ``_load_target`` judges it.
  A delivered item is as old as the dispatcher's Scan (seconds, like the eventually
  consistent read it replaces, unless Lambda's async queue holds the event): an edit,
  a disable or a delete made meanwhile applies from the next check.
- A missing or malformed item, or one outside the AWS limits (``interval_s`` < 60,
  ``env:``/``file:`` secrets), becomes a ``config`` result that goes through the state
  machine like any failure (the operator is told), never a crash.
- Address guard (docs/design.md#security): the probe resolves through ``GuardedResolver``,
  which drops loopback and link-local addresses from the very resolution it connects to
  (unless ``SMTPWATCH_ALLOW_LOOPBACK=1``); passwords go only to the hosts their secret
  names, and only over connections whose TLS proves the host (``TargetSecretResolver``).
- Security of ``"target"``: whoever may invoke this function could already make it
  probe any target of the table; with ``"target"`` they can make it probe any host. That
  gives no more than write access to the targets table gives: secrets stay bound to
  the hosts their values name (``adapters.aws_secrets``: a target naming
  another host's secret gets a ``config`` result, not the password), and the
  loopback/link-local guard applies to a delivered target like to any other.
- Reads and writes (cost, docs/design.md#scheduling-and-cost): with ``"target"`` in the
  event, only the state is read (one eventually consistent GetItem, 0.5 read units);
  without it, the target item and its state come in one eventually consistent BatchGetItem
  (1 read unit). A healthy, unchanged check writes nothing, except on the slot that opens
  each ``PassingResultSeconds`` period (its result, at most 1 KB,
  ``adapters.result_codec``, conditional on ``(target_id, scheduled_at)``); failures,
  unknowns and changes are always stored; state only on change (``service.check`` explains
  the dedupe).
- Logs: a passing check that changed nothing logs its "check done" line at DEBUG (it
  would be ~600 of its ~1,500 log bytes); everything else logs it at INFO.
- Cold start: clients, stores and the probe environment are built once per container
  on the first invocation; Tracer only when enabled; the SNS client only when an
  alert is actually published; dnspython only when a target needs DNS.

Metrics (EMF, dimension ``service`` only — each dimension value is a billed metric):
ProbeSuccess (1/0), TotalMs, <Phase>Ms for each reached phase, CertDaysLeft when TLS
ran; values to 0.1 ms. The target id (always), status and error kind (when the check
did not pass) are EMF metadata (searchable in Logs Insights, not billed).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from smtpwatch.core.result import ErrorInfo, ErrorKind, ProbeResult, Status
from smtpwatch.core.schedule import format_ts, parse_ts, utc_now
from smtpwatch.handlers.observability import make_logger, make_metrics, traced
from smtpwatch.handlers.settings import Settings, load_settings, require

__all__ = ["handler"]

logger = make_logger()
metrics = make_metrics()

_PHASE_METRIC = {
    "dns": "DnsMs",
    "connect": "ConnectMs",
    "banner": "BannerMs",
    "ehlo": "EhloMs",
    "starttls": "StarttlsMs",
    "tls": "TlsMs",
    "ehlo_tls": "EhloTlsMs",
    "auth": "AuthMs",
    "quit": "QuitMs",
}


@dataclass
class _Runtime:
    settings: Settings
    ddb: Any  # the low-level DynamoDB client (one BatchGetItem per check)
    targets: Any  # DynamoTargetStore
    states: Any  # DynamoStateStore
    results: Any  # DynamoResultStore
    sinks: list[Any]
    secrets: Any  # AwsSecretResolver
    env: Any  # ProbeEnvironment
    gate: Any  # TickGate
    now: Callable[[], datetime] = utc_now  # the checks' clock (tests set a fixed one)


class _LazySns:
    """SNS client built on the first alert: most checks publish nothing."""

    def __init__(self, clients: Any, topic_arn: str) -> None:
        self._clients = clients
        self._topic_arn = topic_arn
        self._sink: Any = None

    def send(self, alert: Any) -> None:
        if self._sink is None:
            from smtpwatch.adapters.sns import SnsAlertSink

            self._sink = SnsAlertSink(self._clients("sns"), self._topic_arn)
        self._sink.send(alert)


@functools.cache
def _runtime() -> _Runtime:
    """Settings, clients, stores and the probe environment, once per container."""
    from botocore.config import Config

    from smtpwatch.adapters.address_guard import GuardedResolver
    from smtpwatch.adapters.aws_clients import Clients
    from smtpwatch.adapters.aws_secrets import AwsSecretResolver
    from smtpwatch.adapters.dynamodb import (
        DynamoResultStore,
        DynamoStateStore,
        DynamoTargetStore,
    )
    from smtpwatch.adapters.tick_gate import TickGate
    from smtpwatch.core.probe import DEFAULT_EHLO_NAME, ProbeEnvironment

    settings = load_settings()
    require(settings, "TARGETS_TABLE", "STATE_TABLE", "RESULTS_TABLE", "ALERT_TOPIC_ARN")
    config = Config(
        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10
    )
    clients = Clients(config)
    ddb = clients("dynamodb")
    states = DynamoStateStore(ddb, settings.state_table)
    sinks: list[Any] = [_LazySns(clients, settings.alert_topic_arn)]
    env = ProbeEnvironment(
        resolver=None if settings.allow_loopback else GuardedResolver(),
        default_ehlo_name=settings.ehlo_name or DEFAULT_EHLO_NAME,
        port25_blocked=not settings.in_vpc,
    )
    return _Runtime(
        settings=settings,
        ddb=ddb,
        targets=DynamoTargetStore(ddb, settings.targets_table),
        states=states,
        results=DynamoResultStore(
            ddb, settings.results_table, retention_s=settings.result_retention_s
        ),
        sinks=sinks,
        secrets=AwsSecretResolver(
            prefix=settings.secrets_prefix,
            ssm_client=clients.lazy("ssm"),
            secrets_client=clients.lazy("secretsmanager"),
        ),
        env=env,
        gate=TickGate(
            states,
            sinks,
            share=settings.degraded_share,
            min_count=settings.degraded_min_probes,
        ),
    )


class BadEvent(ValueError):
    """The event is not ``{"target_id": str, "scheduled_at": ISO-8601, ...}``."""


def parse_event(event: Any) -> tuple[str, str]:
    if not isinstance(event, Mapping):
        raise BadEvent("event is not a JSON object")
    target_id = event.get("target_id")
    scheduled_at = event.get("scheduled_at")
    if not isinstance(target_id, str) or not target_id.strip():
        raise BadEvent("event has no target_id")
    if not isinstance(scheduled_at, str):
        raise BadEvent("event has no scheduled_at")
    try:
        normalized = format_ts(parse_ts(scheduled_at))
    except (ValueError, IndexError):
        raise BadEvent(f"scheduled_at {scheduled_at[:40]!r} is not ISO-8601") from None
    return target_id, normalized


_WIRE_SCALARS = {"S": str, "N": str, "BOOL": bool}


def _wire_value(av: Any) -> bool:
    """Whether ``av`` is one AttributeValue as JSON can carry it (no ``B``/``BS``: the
    dispatcher never sends those)."""
    if not isinstance(av, Mapping) or len(av) != 1:
        return False
    ((kind, raw),) = av.items()
    if kind in _WIRE_SCALARS:
        return isinstance(raw, _WIRE_SCALARS[kind])
    if kind == "NULL":
        return raw is True
    if kind == "M":
        return isinstance(raw, Mapping) and all(
            isinstance(k, str) and _wire_value(v) for k, v in raw.items()
        )
    if kind == "L":
        return isinstance(raw, list) and all(_wire_value(v) for v in raw)
    if kind in ("SS", "NS"):
        return isinstance(raw, list) and all(isinstance(v, str) for v in raw)
    return False


def event_target(event: Mapping[str, Any], target_id: str) -> dict[str, Any] | None:
    """The decoded target item the event carries, or None: absent, or not usable (not
    wire form, another target's item: logged) — the caller then reads the table."""
    raw = event.get("target")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problem = "not a JSON object"
    elif raw.get("target_id") != {"S": target_id}:
        problem = "its target_id is not the event's"
    else:
        from smtpwatch.adapters.dynamodb import from_item

        try:
            if all(isinstance(k, str) and _wire_value(v) for k, v in raw.items()):
                return from_item(dict(raw))
            problem = "not in DynamoDB's typed JSON form"
        except Exception as exc:  # {"N": "soon"}; nesting deeper than recursion allows
            problem = f"undecodable: {type(exc).__name__}"
    logger.warning(
        "the event's target item is ignored: reading the table", extra={"reason": problem}
    )
    return None


def _config_result(target_id: str, host: str, message: str, now: datetime) -> ProbeResult:
    return ProbeResult(
        target_id=target_id,
        started_at=format_ts(now),
        status=Status.CRITICAL,
        host=host,
        error=ErrorInfo(ErrorKind.CONFIG, None, message[:300]),
    )


_UNSET: Any = object()
_BATCH_ATTEMPTS = 3


def _read_state(rt: _Runtime, target_id: str) -> Any:
    """The state alone, when the event brought the target item: one eventually
    consistent GetItem (0.5 read units; why eventual is enough: the comment in
    ``_read_target_and_state``)."""
    return rt.states.get_state(target_id, consistent=False)


def _read_target_and_state(rt: _Runtime, target_id: str) -> tuple[Any, Any]:
    """The target item and the state, in one BatchGetItem (one round trip instead of
    two; the read units are the same). Keys left unprocessed (throttling) after a few
    tries are read one by one."""
    from smtpwatch.adapters.dynamodb import from_item, plain
    from smtpwatch.core.state import TargetState

    tt, st = rt.settings.targets_table, rt.settings.state_table
    if tt == st:  # one table for both (not the template's layout): the plain reads
        return rt.targets.get_item(target_id), rt.states.get_state(target_id)
    key = {"target_id": {"S": target_id}}
    # Both eventually consistent (0.5 read units each, for the cost goal). A stale
    # state does little harm: every state write is conditional on the version (a
    # conflict re-reads consistently and decides again) and every stored result on
    # its key, so staleness can delay a change by one check, or publish an alert that
    # was sent a moment before once more under the same alert_id (delivery is
    # at-least-once anyway), but never lose an update or count a check twice. Probe
    # events are not retried (MaximumRetryAttempts 0), and a duplicate delivery runs
    # concurrently, when consistency cannot help.
    request: dict[str, Any] = {tt: {"Keys": [key]}, st: {"Keys": [key]}}
    found: dict[str, Any] = {}
    for attempt in range(_BATCH_ATTEMPTS):
        resp = rt.ddb.batch_get_item(RequestItems=request)
        for table, items in (resp.get("Responses") or {}).items():
            if items:
                found[table] = items[0]
        request = resp.get("UnprocessedKeys") or {}
        if not request:
            break
        time.sleep(0.05 * 2**attempt)
    item: Any = from_item(found[tt]) if tt in found else None
    state: Any = TargetState.from_dict(plain(from_item(found[st]))) if st in found else None
    if tt in request:
        item = rt.targets.get_item(target_id)
    if st in request:
        state = rt.states.get_state(target_id)
    return item, state


class _ReadOnce:
    """The StateStore for one check: the first ``get_state`` of the target answers with
    the state already read (with the target item, or alone when the event brought the
    item); every later read (after a conflict) and every write go to the table."""

    def __init__(self, store: Any, target_id: str, state: Any) -> None:
        self._store = store
        self._target_id = target_id
        self._state = state

    def get_state(self, target_id: str) -> Any:
        if target_id == self._target_id and self._state is not _UNSET:
            state, self._state = self._state, _UNSET
            return state
        return self._store.get_state(target_id)

    def save_state(self, state: Any) -> bool:
        return bool(self._store.save_state(state))

    def iter_states(self) -> Any:
        return self._store.iter_states()


def _load_target(target_id: str, item: Any) -> tuple[Any, str | None]:
    """(Target, None) or (a stand-in Target for alerts, the config error message)."""
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.target import Target, check_aws_limits

    if item is None:
        return None, "target not found in the targets table (deleted?)"
    try:
        target, unknown = Target.from_item(item, strict=False)
        check_aws_limits(target)
    except ConfigError as exc:
        return _stand_in(target_id, item), str(exc)
    except Exception as exc:  # anything else an item can hold: still a config problem
        return _stand_in(target_id, item), f"target item unreadable: {type(exc).__name__}"
    if unknown:
        logger.warning("target item has unknown attributes (ignored)", extra={"unknown": unknown})
    return target, None


def _stand_in(target_id: str, item: Mapping[str, Any]) -> Any:
    """A valid Target carrying the malformed item's id and host, so its ``config``
    result goes through the state machine and the operator hears of it."""
    from smtpwatch.core.target import Target

    host = item.get("host")
    for candidate in (host, "invalid"):
        for tid in (target_id, "invalid"):
            try:
                target = Target(
                    target_id=tid, host=candidate if isinstance(candidate, str) else "invalid"
                )
            except Exception:
                continue
            if tid != target_id:
                # The id itself is invalid (a space typed in the console): the stand-in
                # still carries the item's own id, so its state and alerts are its own.
                object.__setattr__(target, "target_id", target_id)
            return target
    return None


@traced
@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(correlation_id_path="target_id", clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        target_id, scheduled_at = parse_event(event)
    except BadEvent as exc:
        logger.error("bad probe event: ignored", extra={"error": str(exc)})
        metrics.add_metric(name="BadEvent", unit=MetricUnit.Count, value=1)
        return {"status": "bad_event", "error": str(exc)}
    logger.append_keys(target_id=target_id, scheduled_at=scheduled_at)
    delivered = event_target(event, target_id)
    rt = _runtime()
    return check(rt, target_id, scheduled_at, item=delivered)


def check(
    rt: _Runtime, target_id: str, scheduled_at: str, *, item: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One check. ``item``: the target item (decoded) when the event brought it; then
    only the state is read, else both come from the tables."""
    from smtpwatch.adapters.aws_secrets import TargetSecretResolver
    from smtpwatch.service.check import CheckDeps, default_probe_fn, run_check

    if item is None:
        item, state = _read_target_and_state(rt, target_id)
    else:
        state = _read_state(rt, target_id)
    target, problem = _load_target(target_id, item)
    deps = CheckDeps(
        states=_ReadOnce(rt.states, target_id, state),
        results=rt.results,
        sinks=rt.sinks,
        secrets=None if target is None else TargetSecretResolver(rt.secrets, target),
        probe_fn=default_probe_fn(rt.env),
        gate=rt.gate,
        passing_result_every_s=rt.settings.passing_result_every_s,
        now=rt.now,
    )
    if problem is not None:
        logger.warning("target not probed: config problem", extra={"error": problem})
        if target is None:  # no item at all: record it, nothing to alert about
            missing = _config_result(target_id, "", problem, rt.now())
            stored = rt.results.add_result(missing, scheduled_at=scheduled_at)
            _emit(missing)
            return {
                "target_id": target_id,
                "status": "critical",
                "error": "config",
                "stored": stored,
            }
        fixed = _config_result(target_id, target.host, problem, rt.now())
        deps.probe_fn = lambda _target, _password: fixed
    outcome = run_check(target, scheduled_at=scheduled_at, deps=deps)
    result = outcome.result
    summary: dict[str, Any] = {
        "target_id": target_id,
        "scheduled_at": scheduled_at,
        "skipped": outcome.skipped,
        "status": None if result is None else result.status.value,
        "error": None if result is None or result.error is None else result.error.kind.value,
        "state": outcome.state.status.value,
        "alert": None if outcome.alert is None else outcome.alert.event.value,
        "delivered": outcome.delivered,
        "rechecked": outcome.rechecked,
        "writes": outcome.writes,
    }
    if result is not None and outcome.skipped is None:
        _emit(result)
    else:  # redelivered or stale dispatch: visible, and no empty EMF document
        metrics.add_metric(name="CheckSkipped", unit=MetricUnit.Count, value=1)
    if _routine(outcome):
        # Cost: an INFO line is ~600 bytes of CloudWatch Logs per check; a passing check
        # that changed nothing is in the EMF metrics (and hourly in the results table).
        logger.debug("check done", extra=summary)
    else:
        logger.info("check done", extra=summary)
    return summary


def _routine(outcome: Any) -> bool:
    """A passing check that changed nothing: no state write, alert, re-check or skip."""
    result = outcome.result
    return bool(
        result is not None
        and result.ok
        and outcome.skipped is None
        and outcome.alert is None
        and outcome.flushed is None
        and not outcome.rechecked
        and outcome.state_writes == 0
    )


def _emit(result: ProbeResult) -> None:
    """One EMF document per check, as small as it can be (cost: it is most of the log
    bytes of a healthy check): only the phases reached, values to 0.1 ms (the
    full-precision float text is ~18 characters), CertDaysLeft only when TLS ran, status
    and error kind only when the check did not pass."""
    metrics.add_metric(name="ProbeSuccess", unit=MetricUnit.Count, value=int(result.ok))
    metrics.add_metric(
        name="TotalMs", unit=MetricUnit.Milliseconds, value=round(result.total_ms, 1)
    )
    for phase in result.phases:
        if phase.reached and phase.ms is not None:
            metrics.add_metric(
                name=_PHASE_METRIC[phase.phase.value],
                unit=MetricUnit.Milliseconds,
                value=round(phase.ms, 1),
            )
    if result.tls is not None and result.tls.days_left is not None:
        metrics.add_metric(name="CertDaysLeft", unit=MetricUnit.Count, value=result.tls.days_left)
    metrics.add_metadata(key="target_id", value=result.target_id)
    if result.status is not Status.OK:
        metrics.add_metadata(key="status", value=result.status.value)
    if result.error is not None:
        metrics.add_metadata(key="error_kind", value=result.error.kind.value)
