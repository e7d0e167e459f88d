"""Powertools Logger and Metrics for both handlers, Tracer only when enabled, and the
probe's one EMF document per check (``emit_check``).

``SMTPWATCH_TRACING=true`` turns the Tracer on (the X-Ray SDK comes from the stack's
tracing layer; the probe's phases become subsegments through ``phase_hook``);
``SMTPWATCH_METRICS=alarms`` keeps as CloudWatch metrics only ``ALARM_METRICS``. Both
are read once, at import, as Powertools reads its own variables.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from smtpwatch.core.kinds import Status

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

    from smtpwatch.core.probe.environment import PhaseHook
    from smtpwatch.core.result import ProbeResult

__all__ = [
    "ALARM_METRICS",
    "CompactEMFProvider",
    "declared_metrics",
    "emit_check",
    "make_logger",
    "make_metrics",
    "phase_hook",
    "traced",
    "tracing_enabled",
]

F = TypeVar("F", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    return os.environ.get("SMTPWATCH_TRACING", "").strip().lower() == "true"


# The custom metrics an alarm of template.yaml watches. With SMTPWATCH_METRICS=alarms
# (the template's default) CloudWatch extracts only these ($0.30 a month each): Lambda's
# own metrics cover the rest of the alarms, and the dashboard and saved queries read
# the other figures as log fields with Logs Insights.
ALARM_METRICS = frozenset({"DispatchFailed"})


def declared_metrics() -> frozenset[str] | None:
    """The metric names EMF documents declare: None = all (``SMTPWATCH_METRICS`` unset
    or ``all``), ``ALARM_METRICS`` for ``alarms``."""
    mode = (os.environ.get("SMTPWATCH_METRICS") or "all").strip().lower()
    if mode not in ("all", "alarms"):
        raise ValueError(f"SMTPWATCH_METRICS={mode!r}: expected all or alarms")
    return None if mode == "all" else ALARM_METRICS


def make_logger() -> Logger:
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "smtpwatch")


class CompactEMFProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF documents, minus what CloudWatch does not need.

    A healthy check's only log line is its EMF document, and CloudWatch Logs bills
    every byte of it (the cost goal, docs/design.md#scheduling-and-cost): units are left
    out (optional in EMF; the
    names say it — ``...Ms`` are milliseconds, the rest counts — and no alarm or
    dashboard of ours filters on a unit), and a metric with one value is written as
    a number, integral ones without ``.0`` (``"ProbeSuccess":1``, not ``[1.0]``).
    That is ~280 of ~870 bytes for a STARTTLS + AUTH check (bench/emf_provider.py).

    ``declared`` (not None): only these names stay metrics; the others are plain fields,
    and a document left with no metric drops its ``_aws`` block (no EMF, no cost).
    """

    def __init__(self, *, declared: frozenset[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.declared = declared

    def add_cold_start_metric(self, context: Any) -> None:
        if self.declared is None or "ColdStart" in self.declared:
            super().add_cold_start_metric(context)

    def serialize_metric_set(
        self,
        metrics: dict[str, Any] | None = None,
        dimensions: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Any:
        doc: dict[str, Any] = dict(super().serialize_metric_set(metrics, dimensions, metadata))
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for definition in directive["Metrics"]:
                definition.pop("Unit", None)
                name = definition["Name"]
                value = doc.get(name)
                if isinstance(value, list) and len(value) == 1:
                    value = value[0]
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                doc[name] = value
        if self.declared is not None:
            directives = doc["_aws"]["CloudWatchMetrics"]
            for directive in directives:
                directive["Metrics"] = [
                    m for m in directive["Metrics"] if m["Name"] in self.declared
                ]
            if not any(d["Metrics"] for d in directives):
                del doc["_aws"]
        return doc


def make_metrics() -> Metrics:
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Smtpwatch"
    service = os.environ.get("POWERTOOLS_SERVICE_NAME") or "smtpwatch"
    # Powertools' public API only: a Metrics given a provider sends every call (add_metric,
    # add_metadata, serialize_metric_set, flush_metrics, log_metrics) to it, and the
    # provider keeps its own metric, dimension and metadata sets.
    return Metrics(
        provider=CompactEMFProvider(
            declared=declared_metrics(), namespace=namespace, service=service
        )
    )


# What the X-Ray SDK records besides the handler and the probe's phases: every AWS call
# of boto3/botocore, and http.client requests (the dispatcher's direct invokes, OAuth
# token endpoints; the SDK leaves out the ones botocore makes, already recorded).
PATCHED_MODULES = ("botocore", "httplib")


@functools.cache
def _tracer() -> Tracer | None:
    """The one Powertools Tracer (patching ``PATCHED_MODULES``), or None when tracing is
    off or the X-Ray SDK is missing (logged once)."""
    if not tracing_enabled():
        return None
    try:
        from aws_lambda_powertools import Tracer

        return Tracer(patch_modules=PATCHED_MODULES)
    except ImportError:  # no tracing layer: the stack attaches it with EnableTracing=true
        import logging

        logging.getLogger("smtpwatch").warning(
            "SMTPWATCH_TRACING=true but the X-Ray SDK is missing: handler not traced"
        )
        return None


def traced(handler: F) -> F:
    """``tracer.capture_lambda_handler(handler)`` when tracing is on, else ``handler``."""
    tracer = _tracer()
    if tracer is None:
        return handler
    return cast(F, tracer.capture_lambda_handler(handler))


def phase_hook() -> PhaseHook | None:
    """When tracing: the probe's ``phase_hook``, one X-Ray subsegment per phase, named
    as the phase (``dns``, ``connect``, ...), marked as an error with the error's class
    as annotation when the phase failed. Else None: the probe calls nothing."""
    tracer = _tracer()
    if tracer is None:
        return None
    recorder: Any = tracer.provider  # the X-Ray SDK's recorder (Powertools' default)

    def begin(phase: str) -> Callable[[BaseException | None], None]:
        subsegment = recorder.begin_subsegment(phase)

        def end(error: BaseException | None) -> None:
            if error is not None and subsegment is not None:
                subsegment.add_error_flag()
                # The class only: a message may carry server text.
                subsegment.put_annotation("error", type(error).__name__)
            recorder.end_subsegment()

        return end

    return begin


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


def emit_check(metrics: Metrics, result: ProbeResult) -> None:
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
