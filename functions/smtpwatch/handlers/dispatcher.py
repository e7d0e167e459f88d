"""The dispatcher Lambda: every tick, invoke the probe function once per due target.

Thin: the tick comes from the EventBridge event's ``time``, its correlation id (logged here
and put in each probe event) from the event's ``id``; ``service.dispatch.Dispatcher``
does the run over the DynamoDB stores, the Lambda invoker and the SNS sink wired here
once per container; with ``SMTPWATCH_PROBE_REGIONS``, one invoker per location and the
vote store. Logs one summary line; of its figures only DispatchFailed is a custom metric
unless the stack turns on DetailedMetrics.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from smtpwatch.core import schedule
from smtpwatch.handlers.observability import make_logger, make_metrics, traced
from smtpwatch.handlers.settings import DispatcherSettings, load_dispatcher_settings, require
from smtpwatch.service.dispatch import SCAN_SEGMENTS, Dispatcher

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from smtpwatch.adapters.aws_clients import Clients
    from smtpwatch.ports import AlertSink, ProbeInvoker
    from smtpwatch.service.dispatch_ports import DeployedLocations, LocationInvoker

__all__ = ["handler", "tick_time"]

logger = make_logger()
metrics = make_metrics()


@functools.cache
def _runtime() -> tuple[DispatcherSettings, Dispatcher]:
    """Settings, clients and the dispatcher, once per container (tests clear the cache)."""
    from botocore.config import Config

    from smtpwatch.adapters.aws_clients import Clients
    from smtpwatch.adapters.dynamodb import DynamoBookkeeping, DynamoStateStore, DynamoTargetStore
    from smtpwatch.adapters.sns import LazySnsSink
    from smtpwatch.adapters.tick_gate import settle_episode

    settings = load_dispatcher_settings()
    require(settings, "TARGETS_TABLE", "STATE_TABLE", "PROBE_FUNCTION_NAME")
    config = Config(
        max_pool_connections=settings.dispatch_workers + 2 * SCAN_SEGMENTS,
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=3,
        read_timeout=10,
    )
    clients = Clients(config)
    ddb = clients("dynamodb")
    lambda_client = clients("lambda")
    invoker = _invoker(settings, clients, lambda_client, settings.probe_function_name)
    # The SNS client is made only when an alert is actually sent (cold start).
    sink = LazySnsSink(clients, settings.alert_topic_arn) if settings.alert_topic_arn else None
    states = DynamoStateStore(ddb, settings.state_table)
    books = DynamoBookkeeping(ddb, settings.state_table)
    settle = functools.partial(
        settle_episode,
        books,
        states,
        [sink] if sink is not None else [],
        share=settings.degraded_share,
        min_count=settings.degraded_min_probes,
    )
    locations = None
    if settings.probe_regions:
        locations = _deployed(settings, clients, invoker, sink, lambda_client)
    dispatcher = Dispatcher(
        targets=DynamoTargetStore(ddb, settings.targets_table, scan_segments=SCAN_SEGMENTS),
        states=states,
        bookkeeping=books,
        invoker=invoker,
        sink=sink,
        settle=settle,
        locations=locations,
        workers=settings.dispatch_workers,
        log=logger,
    )
    return settings, dispatcher


def _invoker(settings: DispatcherSettings, clients: Clients, client: Any, name: str) -> Any:
    """The invoker of one location's function, on that location's Lambda client."""
    from smtpwatch.adapters.lambda_invoker import DirectLambdaInvoker, LambdaProbeInvoker

    if settings.invoke_mode == "direct":
        return DirectLambdaInvoker(client, clients.session, name)
    return LambdaProbeInvoker(client, name)


def _deployed(
    settings: DispatcherSettings,
    clients: Clients,
    home_invoker: ProbeInvoker,
    sink: AlertSink | None,
    home_client: Any,
) -> DeployedLocations:
    """Every location, the home region first, each with the invoker of its relay: a
    probe region's function (``<prefix><region>``) by name on that region's Lambda
    endpoint, which is its ARN in this account. The vote store opens the slots; the
    locations' health counts what each was sent."""
    from smtpwatch.adapters.dynamodb import DynamoLocationHealthStore, DynamoVoteStore
    from smtpwatch.service.dispatch_ports import DeployedLocations
    from smtpwatch.service.location_health import LocationWatch

    require(settings, "RESULTS_TABLE")
    home = str(home_client.meta.region_name)
    invokers: dict[str, LocationInvoker] = {home: home_invoker}  # type: ignore[dict-item]
    for region in settings.probe_regions:
        name = settings.regional_function_name(region)
        invokers[region] = _invoker(settings, clients, clients("lambda", region), name)
    ddb = clients("dynamodb")
    votes = DynamoVoteStore(
        ddb, settings.state_table, settings.results_table, retention_s=settings.result_retention_s
    )
    watch = LocationWatch(
        DynamoLocationHealthStore(ddb, settings.state_table),
        [sink] if sink is not None else [],
        share=settings.degraded_share,
        min_count=settings.degraded_min_probes,
    )
    return DeployedLocations((home, *settings.probe_regions), invokers, votes, watch)


def _correlation_id() -> str | None:
    """The schedule event's id as Powertools took it (a str of at most 128 characters)."""
    value = logger.get_correlation_id()
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


def tick_time(event: Mapping[str, Any] | None, now: float) -> datetime:
    """The tick: the scheduled event's ``time`` (the same for a redelivered event), or now."""
    raw = (event or {}).get("time")
    if isinstance(raw, str) and raw:
        try:
            return schedule.parse_ts(raw)
        except (ValueError, IndexError):
            logger.warning("event time is not ISO-8601; using the clock", extra={"time": raw})
    return datetime.fromtimestamp(now, UTC)


@traced
@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    from smtpwatch.adapters.lambda_invoker import DirectLambdaInvoker, LambdaProbeInvoker

    _, dispatcher = _runtime()
    invokers: list[Any] = [dispatcher.invoker]
    if dispatcher.locations is not None:
        invokers = list(dispatcher.locations.invokers.values())
    for invoker in invokers:
        if isinstance(invoker, LambdaProbeInvoker | DirectLambdaInvoker):
            # One container runs one tick at a time: the id is the current tick's.
            invoker.correlation_id = _correlation_id()
    remaining_s = 60.0
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining_s = context.get_remaining_time_in_millis() / 1000
    report = dispatcher.run(tick_time(event, time.time()), lease_s=remaining_s + 2)
    summary = report.summary(locations=dispatcher.locations is not None)
    logger.info("dispatch finished", extra=summary)
    metrics.add_metric(name="Due", unit=MetricUnit.Count, value=report.due)
    metrics.add_metric(name="Dispatched", unit=MetricUnit.Count, value=report.dispatched)
    metrics.add_metric(name="DispatchFailed", unit=MetricUnit.Count, value=report.failed)
    metrics.add_metric(name="Malformed", unit=MetricUnit.Count, value=report.malformed)
    metrics.add_metric(name="AlertsResent", unit=MetricUnit.Count, value=report.alerts_resent)
    metrics.add_metric(name="DispatchMs", unit=MetricUnit.Milliseconds, value=report.elapsed_ms)
    return summary
