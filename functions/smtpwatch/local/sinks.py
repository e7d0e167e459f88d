"""Alert sinks for local runs: the console, a webhook, an SNS topic, and a fan-out.

The words of an alert (subject, readable text, JSON document) come from
``core.alert_text``, the same module the Lambda uses, so an alert reads the same
whichever way it travels. A sink raises when it cannot deliver: the state machine then
keeps the alert pending and sends it again on the next run (at-least-once).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from smtpwatch.core.safe_text import guard
from smtpwatch.core.state import Alert
from smtpwatch.local.delivery_errors import SinkError
from smtpwatch.local.webhook import WebhookSender
from smtpwatch.ports import AlertSink

__all__ = ["ConsoleSink", "FanOutSink", "SinkError", "WebhookSink", "sns_sink"]


class ConsoleSink:
    """Readable alert blocks on a stream (stdout), or one JSON document per line.

    Everything goes through a terminal guard (``core.safe_text``): an alert quotes
    server text and the target's name and tags, and the colour of its head is written
    apart from that text, so the text cannot carry escape sequences of its own.
    ``indent`` starts every line (the demo nests alerts under its story).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        json_lines: bool = False,
        color: bool | None = None,
        lock: threading.Lock | None = None,
        indent: str = "",
    ) -> None:
        self._stream = stream
        self._json = json_lines
        self._color = color
        self._indent = indent
        # Shared with the scheduler's progress lines so blocks never interleave.
        self._lock = lock or threading.Lock()

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def send(self, alert: Alert) -> None:
        from smtpwatch.core import alert_text

        out = guard(self.stream)
        if self._json:
            line = json.dumps({"alert": alert_text.document(alert)}, ensure_ascii=False)
            with self._lock:
                out.write(self._indent + line + "\n")
                out.flush()
            return
        subject = alert_text.subject(alert)
        body = alert_text.text(alert).rstrip("\n")
        if body.startswith(subject):  # the email text opens with the subject line
            body = body[len(subject) :]
        color = self._color if self._color is not None else _isatty(self.stream)
        lines = [self._indent + "    " + line for line in body.splitlines() if line.strip()]
        with self._lock:
            out.write(self._indent)
            if color:
                out.write_style(_COLORS.get(alert.event.value, "1"))
            out.write(f"ALERT {subject}")
            if color:
                out.write_style("0")
            out.write("".join("\n" + line for line in lines) + "\n")
            out.flush()


_COLORS = {"down": "1;31", "reminder": "1;31", "degraded": "1;35", "warning": "1;33",
           "recovered": "1;32", "test": "1;36"}  # fmt: skip


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class WebhookSink(WebhookSender):
    """POSTs the alert's JSON document (the one SNS gives HTTPS/SQS/Lambda subscribers),
    signed when given a key: one attempt under one deadline (``local.webhook``).

    A 2xx is delivered; anything else — a redirect (never followed), another status, the
    deadline, a refused connection — raises ``SinkError`` (a ``DeliveryError``)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, secret: bytes | None = None) -> None:
        try:
            super().__init__(url, timeout_s=timeout_s, key=secret)
        except ValueError as exc:
            raise ValueError(f"--{exc}") from None

    def __repr__(self) -> str:
        return f"WebhookSink({self.display_url!r})"


def sns_sink(topic_arn: str, *, region: str | None = None) -> AlertSink:
    """The Lambda's SNS sink (``adapters.sns``), with boto3 loaded only when asked for."""
    import boto3

    from smtpwatch.adapters.sns import SnsAlertSink

    if region is None and topic_arn.startswith("arn:"):
        fields = topic_arn.split(":")
        region = fields[3] if len(fields) > 3 and fields[3] else None
    from smtpwatch.adapters.sns import publish_config

    client: Any = boto3.client("sns", region_name=region, config=publish_config())
    return SnsAlertSink(client, topic_arn)


class FanOutSink:
    """Sends each alert to every sink; raises if any failed (after trying them all).

    A failure of one sink keeps the alert pending, so the next run sends it again to
    every sink: a console may print an alert twice, a webhook never misses one.
    """

    def __init__(
        self,
        sinks: Sequence[tuple[str, AlertSink]],
        *,
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> None:
        self.sinks = list(sinks)
        self._on_error = on_error

    def send(self, alert: Alert) -> None:
        failures: list[str] = []
        for name, sink in self.sinks:
            try:
                sink.send(alert)
            except Exception as exc:  # one broken sink must not silence the others
                failures.append(f"{name}: {exc}")
                if self._on_error is not None:
                    self._on_error(name, exc)
        if failures:
            raise SinkError("; ".join(failures))
