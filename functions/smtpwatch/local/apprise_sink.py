"""Notifications through Apprise (Slack, Teams, Discord, PagerDuty, ntfy, email, ...).

``notify_channel``: an outbox ``Channel`` for one Apprise URL. Each attempt runs
Apprise's ``notify()`` on a helper thread under one overall deadline; delivered is
what Apprise reports. The label names the service and, where the URL's host is a
server name, that host: never a token (Apprise URLs carry them); the URL is never logged.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import unquote

from smtpwatch.core.safe_text import one_line
from smtpwatch.core.state import Alert, AlertEvent
from smtpwatch.local.delivery import Channel
from smtpwatch.local.delivery_errors import DeliveryError, SinkError

__all__ = ["INSTALL_HINT", "AppriseSender", "NotifyUnavailable", "load_apprise", "notify_channel"]

INSTALL_HINT = "pip install 'smtpwatch[notify]'"
MAX_STUCK = 2  # attempts past their deadline still running before new ones are refused
_REASONS = 3  # Apprise's warnings quoted in a failure message

_FAILURE = {AlertEvent.DOWN, AlertEvent.REMINDER, AlertEvent.DEGRADED}
_KIND = {AlertEvent.RECOVERED: "success", AlertEvent.WARNING: "warning"}


class NotifyUnavailable(SinkError):
    """Apprise is not installed (the ``notify`` extra)."""


def load_apprise() -> Any:
    try:
        import apprise
    except ImportError:
        raise NotifyUnavailable(
            f"notifications need Apprise, which is not installed: {INSTALL_HINT}"
        ) from None
    _quiet()
    return apprise


def notify_channel(url: str, *, index: int, timeout_s: float = 30.0) -> Channel:
    sender = AppriseSender(url, timeout_s=timeout_s)
    return Channel(f"notify-{index}", sender.label, sender.send)


class AppriseSender:
    """Sends alerts to one Apprise URL: title = the subject, body = the alert's text."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, max_stuck: int = MAX_STUCK) -> None:
        if timeout_s <= 0:
            raise ValueError("notify timeout: must be more than 0 seconds")
        self._apprise = load_apprise()
        self._url = url.strip()
        self.timeout_s = float(timeout_s)
        self._max_stuck = max(1, max_stuck)
        plugin = self._plugin()  # refuses a URL Apprise cannot use, now, not at the alert
        self.service = one_line(str(getattr(plugin, "service_name", "") or "Apprise"), 40)
        self.label = f"notify {self.service} {_shown(self._url, plugin)}"
        self._secrets = _secret_parts(self._url, keep=self.label)
        self._stuck: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AppriseSender({self.label!r})"

    def send(self, alert: Alert) -> None:
        """One attempt; returns when Apprise reports success, raises ``DeliveryError``."""
        from smtpwatch.core import alert_text

        title = alert_text.subject(alert)
        body = alert_text.text(alert)
        if body.startswith(title):  # the text opens with the subject line
            body = body[len(title) :].lstrip("\n")
        if alert.details.get("late"):
            body = "(Delivered late: a newer alert of this target came before it.)\n\n" + body
        kind = "failure" if alert.event in _FAILURE else _KIND.get(alert.event, "info")
        outcome: list[bool] = []
        reasons: list[str] = []
        call = threading.Thread(
            target=self._call,
            args=(title, body, kind, outcome, reasons),
            name="smtpwatch-notify",
            daemon=True,
        )
        with self._lock:
            self._stuck = [t for t in self._stuck if t.is_alive()]
            if len(self._stuck) >= self._max_stuck:
                raise DeliveryError(
                    f"{len(self._stuck)} earlier attempts to {self.service} are still hanging"
                    " past their deadline; not starting another"
                )
            call.start()
        call.join(self.timeout_s)
        if call.is_alive():
            with self._lock:
                self._stuck.append(call)
            raise DeliveryError(f"timed out after {self.timeout_s:g} s (deadline)")
        if outcome and outcome[0]:
            return
        said = "; ".join(dict.fromkeys(self._scrub(r) for r in reasons))
        raise DeliveryError(
            f"{self.service} did not take the notification"
            + (f": {one_line(said, 240)}" if said else " (Apprise reported a failure)")
        )

    # -- the call, on its own thread -------------------------------------------------------

    def _call(
        self, title: str, body: str, kind: str, outcome: list[bool], reasons: list[str]
    ) -> None:
        _CAPTURE.start(reasons)
        try:
            apprise = self._apprise
            notifier = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
            notifier.add(self._plugin())
            result = notifier.notify(
                body=body,
                title=title,
                notify_type=getattr(apprise.NotifyType, kind.upper()),
                body_format=apprise.NotifyFormat.TEXT,
            )
            outcome.append(bool(result))
            reasons.extend(_logged_problems(result))
        except Exception as exc:  # a plugin's own bug: a failed attempt, not a crash
            reasons.append(type(exc).__name__)
            outcome.append(False)
        finally:
            _CAPTURE.stop()

    def _plugin(self) -> Any:
        """A fresh plugin object per attempt (they keep throttling state), its socket
        timeouts no longer than the deadline, so a cut attempt ends soon after it."""
        plugin = self._apprise.Apprise.instantiate(self._url)
        if plugin is None:
            scheme = self._url.partition("://")[0] if "://" in self._url else ""
            what = f"{scheme}:// URL" if _SCHEME.fullmatch(scheme) else "URL"
            raise ValueError(
                f"Apprise cannot use this {what} (an unknown service, or a"
                " token or field missing or malformed)"
            )
        for name in ("socket_connect_timeout", "socket_read_timeout"):
            value = getattr(plugin, name, None)
            if isinstance(value, int | float):
                setattr(plugin, name, min(float(value), self.timeout_s))
        return plugin

    def _scrub(self, text: str) -> str:
        for part in self._secrets:
            text = text.replace(part, "…")
        return text


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")


def _shown(url: str, plugin: Any) -> str:
    """``scheme://host[:port]`` when the plugin takes a server name as host; otherwise
    ``scheme://…`` (Slack, Discord, Telegram, PagerDuty put tokens where a host goes)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    scheme = scheme if _SCHEME.fullmatch(scheme) else "?"
    tokens = getattr(plugin, "template_tokens", None) or {}
    host = getattr(plugin, "host", None)
    if "host" not in tokens or not isinstance(host, str) or not host or _reused(plugin, host):
        return f"{scheme}://…"
    host = one_line(host, 100)
    if ":" in host:
        host = f"[{host}]"
    port = getattr(plugin, "port", None)
    return f"{scheme}://{host}" + (f":{port}" if isinstance(port, int) else "")


def _reused(plugin: Any, host: str) -> bool:
    """The host is also one of the plugin's targets: not a server but, say, an ntfy.sh
    topic (Apprise 1 keeps ``ntfys://TOPIC``'s topic as the host too)."""
    try:
        values = list(vars(plugin).values())
    except TypeError:  # no instance dictionary: nothing to compare with
        return False
    return any(isinstance(v, list | tuple | set | frozenset) and host in v for v in values)


def _logged_problems(result: Any) -> list[str]:
    """Apprise 2's result carries the call's log entries (its plugins log on a pool
    thread there); Apprise 1 returns a plain bool, and the capture has its lines."""
    logs = getattr(result, "logs", None)
    if not callable(logs):
        return []
    found = []
    for entry in logs():
        level = getattr(entry, "level", "")
        number = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
        if isinstance(number, int) and number >= logging.WARNING:
            found.append(str(getattr(entry, "message", "")))
    return found[:_REASONS]


def _secret_parts(url: str, *, keep: str) -> list[str]:
    """The pieces of ``url`` a failure message must not repeat: everything of four or
    more characters between its separators that the label does not show."""
    rest = url.partition("://")[2] or url
    parts = {p for p in re.split(r"[/:@?&=#,;+\s]", rest) if len(p) >= 4}
    parts |= {unquote(p) for p in parts}
    return sorted((p for p in parts if p not in keep), key=len, reverse=True)


class _Capture(logging.Handler):
    """Apprise's warnings and errors, kept per calling thread (the attempts run with
    Apprise's async mode off, so a plugin logs on the thread that called it)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._sinks: dict[int, list[str]] = {}
        self._guard = threading.Lock()

    def start(self, into: list[str]) -> None:
        with self._guard:
            self._sinks[threading.get_ident()] = into

    def stop(self) -> None:
        with self._guard:
            self._sinks.pop(threading.get_ident(), None)

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            into = self._sinks.get(record.thread or 0)
        if into is not None and len(into) < _REASONS:
            try:
                into.append(record.getMessage())
            except Exception:  # a malformed record is not worth a failed delivery
                into.append(record.levelname)


_CAPTURE = _Capture()
_QUIETED = threading.Event()


def _quiet() -> None:
    """Apprise's log lines go to the failure message, never to the process's log: at
    debug level they hold whole URLs, tokens included."""
    if _QUIETED.is_set():
        return
    _QUIETED.set()
    logger = logging.getLogger("apprise")
    logger.propagate = False
    logger.setLevel(max(logger.level, logging.WARNING))
    logger.addHandler(_CAPTURE)
