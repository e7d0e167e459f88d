"""Powertools Logger and Metrics for both handlers; Tracer only when enabled.

``Tracer()`` costs about 150 ms of cold start (it imports the X-Ray SDK) and X-Ray bills
per trace, so it is imported only when ``SMTPWATCH_TRACING=true`` — read once, at import,
like Powertools reads its own variables.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

__all__ = ["make_logger", "make_metrics", "traced", "tracing_enabled"]

F = TypeVar("F", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    return os.environ.get("SMTPWATCH_TRACING", "").strip().lower() == "true"


def make_logger() -> Logger:
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "smtpwatch")


def make_metrics() -> Metrics:
    return Metrics(
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Smtpwatch",
        service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "smtpwatch",
    )


def traced(handler: F) -> F:
    """``tracer.capture_lambda_handler(handler)`` when tracing is on, else ``handler``."""
    if not tracing_enabled():
        return handler
    try:
        from aws_lambda_powertools import Tracer

        tracer = Tracer()
    except ImportError:  # the X-Ray SDK is not bundled (see functions/requirements.txt)
        import logging

        logging.getLogger("smtpwatch").warning(
            "SMTPWATCH_TRACING=true but the X-Ray SDK is missing: handler not traced"
        )
        return handler
    return cast(F, tracer.capture_lambda_handler(handler))
