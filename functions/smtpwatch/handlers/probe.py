"""The probe Lambda: one check of one target per event ``{"target_id", "scheduled_at"}``,
plus ``"correlation_id"`` (the tick's id, the log lines' correlation id) and ``"target"``,
the item as the dispatcher scanned it (else read from the table: ``dynamodb.probe_read``).
A missing or malformed item is a ``config`` result; the check is ``service.check.run_check``,
or with ``"vote"`` this location's vote (``probe_vote``). Settings, clients and stores are
made on the first invocation (``_runtime()``), in a probe region for the home region's
resources (``SMTPWATCH_HOME_REGION``). One log line per check (``observability.emit_check``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from smtpwatch.core.schedule import format_ts, parse_ts, utc_now
from smtpwatch.handlers.observability import (
    emit_check,
    make_logger,
    make_metrics,
    phase_hook,
    traced,
)
from smtpwatch.handlers.settings import ProbeSettings, load_probe_settings, require

if TYPE_CHECKING:  # the real types, without their imports at cold start
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from smtpwatch.adapters.aws_clients import Clients
    from smtpwatch.adapters.aws_secrets import AwsSecretResolver
    from smtpwatch.adapters.dynamodb import (
        DynamoResultStore,
        DynamoStateStore,
        DynamoTargetStore,
    )
    from smtpwatch.adapters.tick_gate import TickGate
    from smtpwatch.core.probe import ProbeEnvironment
    from smtpwatch.core.target import Target
    from smtpwatch.ports import AlertSink, VoteStore
    from smtpwatch.service.check import CheckDeps, CheckOutcome
    from smtpwatch.service.location_health import LocationWatch

__all__ = ["ProbeRuntime", "check", "handler", "lambda_location"]

logger = make_logger()
metrics = make_metrics()


@dataclass
class ProbeRuntime:
    """One function's settings, clients, stores and probe environment (``_runtime()``;
    a test may build one per location and hand it to ``check`` or ``vote``)."""

    settings: ProbeSettings
    ddb: DynamoDBClient  # the low-level client the stores share (one BatchGetItem per check)
    targets: DynamoTargetStore
    states: DynamoStateStore
    results: DynamoResultStore
    sinks: list[AlertSink]
    secrets: AwsSecretResolver
    env: ProbeEnvironment
    gate: TickGate
    votes: VoteStore  # a multi-location slot's votes and claim (the home region's tables)
    watch: LocationWatch  # the locations' health (kept per container: it caches)
    clients: Clients | None = None  # for a relay's Lambda client, made on its first relay
    now: Callable[[], datetime] = utc_now  # the checks' clock (tests set a fixed one)
    relay_invoker: Any = None  # this function's own invoker (``probe_batches``)


_Runtime = ProbeRuntime


def lambda_location(environ: Mapping[str, str]) -> str:
    """Where this function's results say they ran: ``SMTPWATCH_LOCATION`` when set
    (checked; ``ConfigError`` names it), else the region (Lambda always sets
    ``AWS_REGION``; elsewhere ``AWS_DEFAULT_REGION``, else the host name)."""
    from smtpwatch.core.probe import LOCATION_VARIABLE, default_location, parse_location

    if LOCATION_VARIABLE in environ:
        return parse_location(LOCATION_VARIABLE, environ[LOCATION_VARIABLE])
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(variable):
            return parse_location(variable, environ[variable])
    return default_location()


@functools.cache
def _runtime() -> ProbeRuntime:
    """Settings, clients, stores and the probe environment, once per container. A
    probe region's function (``SMTPWATCH_HOME_REGION``) makes every client (DynamoDB,
    SNS, SSM, Secrets Manager) for the home region, where the stack's resources are."""
    from botocore.config import Config

    from smtpwatch.adapters.address_guard import GuardedResolver
    from smtpwatch.adapters.aws_clients import Clients
    from smtpwatch.adapters.aws_secrets import AwsSecretResolver
    from smtpwatch.adapters.dynamodb import (
        DynamoBookkeeping,
        DynamoLocationHealthStore,
        DynamoResultStore,
        DynamoStateStore,
        DynamoTargetStore,
        DynamoVoteStore,
    )
    from smtpwatch.adapters.sns import LazySnsSink
    from smtpwatch.adapters.tick_gate import TickGate
    from smtpwatch.core.probe import DEFAULT_EHLO_NAME, ProbeEnvironment
    from smtpwatch.service.location_health import LocationWatch

    settings = load_probe_settings()
    require(settings, "TARGETS_TABLE", "STATE_TABLE", "RESULTS_TABLE", "ALERT_TOPIC_ARN")
    from smtpwatch.handlers.probe_batches import RELAY_WORKERS

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=RELAY_WORKERS,  # a relay's invokes (probe_batches)
    )
    clients = Clients(config, region=settings.home_region)
    ddb = clients("dynamodb")
    sinks: list[AlertSink] = [LazySnsSink(clients, settings.alert_topic_arn)]
    env = ProbeEnvironment(
        resolver=None if settings.allow_loopback else GuardedResolver(),
        default_ehlo_name=settings.ehlo_name or DEFAULT_EHLO_NAME,
        port25_blocked=not settings.in_vpc,
        location=lambda_location(os.environ),
        phase_hook=phase_hook(),  # X-Ray subsegments per phase when tracing, else None
    )
    return ProbeRuntime(
        settings=settings,
        ddb=ddb,
        targets=DynamoTargetStore(ddb, settings.targets_table),
        states=DynamoStateStore(ddb, settings.state_table),
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
            DynamoBookkeeping(ddb, settings.state_table),
            sinks,
            share=settings.degraded_share,
            min_count=settings.degraded_min_probes,
        ),
        votes=DynamoVoteStore(
            ddb,
            settings.state_table,
            settings.results_table,
            retention_s=settings.result_retention_s,
        ),
        watch=LocationWatch(
            DynamoLocationHealthStore(ddb, settings.state_table),
            sinks,
            share=settings.degraded_share,
            min_count=settings.degraded_min_probes,
        ),
        clients=clients,
    )


class BadEventError(ValueError):
    """The event is not ``{"target_id": str, "scheduled_at": ISO-8601, ...}``."""


def parse_event(event: Any) -> tuple[str, str]:
    """``(target_id, scheduled_at)`` with the slot in the stored form (``format_ts``)."""
    if not isinstance(event, Mapping):
        raise BadEventError("event is not a JSON object")
    target_id = event.get("target_id")
    scheduled_at = event.get("scheduled_at")
    if not isinstance(target_id, str) or not target_id.strip():
        raise BadEventError("event has no target_id")
    if not isinstance(scheduled_at, str):
        raise BadEventError("event has no scheduled_at")
    try:
        normalized = format_ts(parse_ts(scheduled_at))
    except (ValueError, IndexError):
        raise BadEventError(f"scheduled_at {scheduled_at[:40]!r} is not ISO-8601") from None
    return target_id, normalized


def event_target(event: Mapping[str, Any], target_id: str) -> dict[str, Any] | None:
    """The decoded target item the event carries, or None: absent, or not usable (not
    wire form, another target's item: logged) — the caller then reads the table."""
    raw = event.get("target")
    if raw is None:
        return None
    from smtpwatch.adapters.dynamodb.probe_read import delivered_item

    item, problem = delivered_item(raw, target_id)
    if item is None:
        logger.warning(
            "the event's target item is ignored: reading the table", extra={"reason": problem}
        )
    return item


def _load_target(
    target_id: str, item: Mapping[str, Any] | None
) -> tuple[Target | None, str | None]:
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


def _stand_in(target_id: str, item: Mapping[str, Any]) -> Target | None:
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
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cid = event.get("correlation_id") if isinstance(event, Mapping) else None
    if isinstance(cid, str) and 0 < len(cid) <= 128:
        logger.set_correlation_id(cid)
    from smtpwatch.handlers.probe_vote import parse_vote, vote

    if isinstance(event, Mapping) and ("relay" in event or "decide" in event):
        from smtpwatch.handlers.probe_batches import batch_event

        out = batch_event(_runtime, event)
        # One EMF document per batch (a plain field unless DetailedMetrics): Powertools
        # otherwise warns at every relay that it has no metric to publish.
        relayed = "relay" in event
        count = out.get("relayed" if relayed else "decided")
        metrics.add_metric(
            name="RelayedEvents" if relayed else "SlotsDecided",
            unit=MetricUnit.Count,
            value=count if isinstance(count, int) else 0,
        )
        return out
    try:
        target_id, scheduled_at = parse_event(event)
        ballot = parse_vote(event)
    except BadEventError as exc:
        logger.error("bad probe event: ignored", extra={"error": str(exc)})
        metrics.add_metric(name="BadEvent", unit=MetricUnit.Count, value=1)
        return {"status": "bad_event", "error": str(exc)}
    logger.append_keys(target_id=target_id, scheduled_at=scheduled_at)
    delivered = event_target(event, target_id)
    rt = _runtime()
    if ballot is not None:
        return vote(rt, target_id, scheduled_at, ballot, item=delivered)
    return check(rt, target_id, scheduled_at, item=delivered)


def _prepare(
    rt: ProbeRuntime, target_id: str, scheduled_at: str, item: dict[str, Any] | None
) -> tuple[Target | None, str | None, CheckDeps, dict[str, Any] | None]:
    """The target, its config problem, the check's dependencies, and (for a target
    without any item) the summary of its stored config result: ``check`` and ``vote``
    read and load the same way."""
    from smtpwatch.adapters.aws_secrets import TargetSecretResolver
    from smtpwatch.adapters.dynamodb.probe_read import PrereadStates, read_target_and_state
    from smtpwatch.service.check import CheckDeps, default_probe_fn
    from smtpwatch.service.probing import config_result

    if item is None:
        item, state = read_target_and_state(
            rt.ddb,
            target_id,
            targets=rt.targets,
            states=rt.states,
            targets_table=rt.settings.targets_table,
            state_table=rt.settings.state_table,
        )
    else:
        state = rt.states.get_state(target_id, consistent=False)
    target, problem = _load_target(target_id, item)
    deps = CheckDeps(
        states=PrereadStates(rt.states, target_id, state),
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
            missing = config_result(
                target_id, "", problem[:300], now=rt.now(), location=rt.env.location
            )
            stored = rt.results.add_result(missing, scheduled_at=scheduled_at)
            emit_check(metrics, missing)
            gone = {"target_id": target_id, "status": "critical", "error": "config"}
            return None, problem, deps, gone | {"stored": stored}
        fixed = config_result(
            target_id, target.host, problem[:300], now=rt.now(), location=rt.env.location
        )
        deps.probe_fn = lambda _target, _password: fixed
    return target, problem, deps, None


def check(
    rt: ProbeRuntime, target_id: str, scheduled_at: str, *, item: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One check. ``item``: the target item (decoded) when the event brought it; then
    only the state is read (one eventually consistent GetItem), else both come in one
    BatchGetItem."""
    from smtpwatch.service.check import run_check

    target, _problem, deps, gone = _prepare(rt, target_id, scheduled_at, item)
    if gone is not None:
        return gone
    assert target is not None  # _load_target gives every None target a problem
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
        emit_check(metrics, result)
    else:  # redelivered or stale dispatch: visible, and no empty EMF document
        metrics.add_metric(name="CheckSkipped", unit=MetricUnit.Count, value=1)
    if _routine(outcome):
        # Cost: an INFO line is hundreds of bytes of CloudWatch Logs per check; a passing
        # check that changed nothing is in the per-check line (and hourly in the results table).
        logger.debug("check done", extra=summary)
    else:
        logger.info("check done", extra=summary)
    return summary


def _routine(outcome: CheckOutcome) -> bool:
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
