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
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from smtpwatch.core.errors import SmtpwatchError
from smtpwatch.core.safe_text import guard
from smtpwatch.core.state import Alert
from smtpwatch.ports import AlertSink

__all__ = ["ConsoleSink", "FanOutSink", "SinkError", "WebhookSink", "sns_sink"]


class SinkError(SmtpwatchError):
    """An alert could not be delivered (the message names the sink, never a secret)."""


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


class WebhookSink:
    """POSTs the alert's JSON document (the one SNS gives HTTPS/SQS/Lambda subscribers).

    Any 2xx is delivered; anything else — another status, a timeout, a refused
    connection — raises ``SinkError`` so the alert stays pending.
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("http", "https") or "://" not in url:
            raise ValueError(f"--webhook {url!r}: expected an http:// or https:// URL")
        self.url = url
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"WebhookSink({self.display_url!r})"

    @property
    def display_url(self) -> str:
        """The URL without credentials or query string (webhook URLs carry tokens)."""
        return _redact(self.url)

    def send(self, alert: Alert) -> None:
        from smtpwatch import __version__
        from smtpwatch.core import alert_text

        body = json.dumps(alert_text.document(alert), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"smtpwatch/{__version__}",
                "X-Smtpwatch-Event": alert.event.value,
                "X-Smtpwatch-Alert-Id": alert.alert_id,
            },
        )
        # Messages name no URL: the caller prefixes the sink's name (``display_url``).
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            raise SinkError(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise SinkError(str(exc.reason)) from None
        except (TimeoutError, OSError) as exc:
            raise SinkError(str(exc) or type(exc).__name__) from None
        if not 200 <= status < 300:
            raise SinkError(f"HTTP {status}")


def _redact(url: str) -> str:
    """The URL without userinfo or query (webhook URLs often carry a token)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


def sns_sink(topic_arn: str, *, region: str | None = None) -> AlertSink:
    """The Lambda's SNS sink (``adapters.sns``), with boto3 loaded only when asked for."""
    import boto3

    from smtpwatch.adapters.sns import SnsAlertSink

    if region is None and topic_arn.startswith("arn:"):
        fields = topic_arn.split(":")
        region = fields[3] if len(fields) > 3 and fields[3] else None
    client: Any = boto3.client("sns", region_name=region)
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
