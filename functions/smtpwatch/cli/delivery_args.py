"""Alert channels from the command line, the environment and files (run, alerts).

``--sns-topic-arn`` and the webhooks: ``--webhook URL``, ``--webhook-url-env VAR`` and
``--webhook-url-file PATH``, numbered in that order (``webhook-1``, ...), signed with the
secret of ``--webhook-secret-env`` or ``--webhook-secret-file``. URLs and the secret can
stay off the command line, where ``ps`` shows them to every user; their files are mode 600.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import TYPE_CHECKING

from smtpwatch.cli.main import UsageError
from smtpwatch.cli.option_values import bounded_number
from smtpwatch.cli.private_file import read_private_file
from smtpwatch.local.delivery import Channel

if TYPE_CHECKING:
    from smtpwatch.local.outbox import Outbox

__all__ = [
    "MAX_WEBHOOK_TIMEOUT_S",
    "StderrNotices",
    "add_delivery_arguments",
    "add_sink_arguments",
    "channels_from_args",
    "pending_notices",
    "signing_key",
    "webhook_urls",
]

MAX_WEBHOOK_TIMEOUT_S = 300


def add_sink_arguments(parser: argparse.ArgumentParser) -> None:
    """``--sns-topic-arn``, ``--webhook`` and ``--webhook-timeout``."""
    group = parser.add_argument_group("alerts (always printed to the console)")
    group.add_argument(
        "--sns-topic-arn", metavar="ARN", help="also publish alerts to this SNS topic"
    )
    group.add_argument(
        "--webhook",
        metavar="URL",
        action="append",
        default=[],
        help="also POST each alert's JSON document to URL (repeatable)",
    )
    group.add_argument(
        "--webhook-timeout",
        metavar="SECONDS",
        type=bounded_number(0, MAX_WEBHOOK_TIMEOUT_S, low_open=True),
        default=10.0,
        help="seconds to wait for a webhook (default: 10)",
    )


def add_delivery_arguments(parser: argparse.ArgumentParser) -> None:
    """The options beside ``add_sink_arguments``'s ``--webhook``/``--sns-topic-arn``."""
    group = parser.add_argument_group("webhook URLs and signing, kept off the command line")
    group.add_argument(
        "--webhook-url-env",
        metavar="VAR",
        action="append",
        default=[],
        help="also POST alerts to the URL in environment variable VAR (repeatable)",
    )
    group.add_argument(
        "--webhook-url-file",
        metavar="PATH",
        action="append",
        default=[],
        help="also POST alerts to each URL in PATH, one per line (mode 600; repeatable)",
    )
    secret = group.add_mutually_exclusive_group()
    secret.add_argument(
        "--webhook-secret-env",
        metavar="VAR",
        help="sign webhook requests (Standard Webhooks) with the whsec_ secret in VAR",
    )
    secret.add_argument(
        "--webhook-secret-file",
        metavar="PATH",
        help="sign webhook requests with the whsec_ secret in PATH (mode 600)",
    )
    from smtpwatch.cli.notify_args import add_notify_arguments

    add_notify_arguments(parser)


def webhook_urls(args: argparse.Namespace) -> list[str]:
    urls = list(getattr(args, "webhook", None) or ())
    for var in getattr(args, "webhook_url_env", None) or ():
        urls.append(_from_env("--webhook-url-env", var))
    for path in getattr(args, "webhook_url_file", None) or ():
        text = read_private_file("--webhook-url-file", path)
        lines = [line.strip() for line in text.splitlines()]
        found = [line for line in lines if line and not line.startswith("#")]
        if not found:
            raise UsageError(f"--webhook-url-file {path}: no URL in the file")
        urls.extend(found)
    return urls


def signing_key(args: argparse.Namespace) -> bytes | None:
    from smtpwatch.core.webhook_signing import parse_secret

    var = getattr(args, "webhook_secret_env", None)
    path = getattr(args, "webhook_secret_file", None)
    if var:
        option, text = f"--webhook-secret-env {var}", _from_env("--webhook-secret-env", var)
    elif path:
        option, text = (
            f"--webhook-secret-file {path}",
            read_private_file("--webhook-secret-file", path),
        )
    else:
        return None
    try:
        return parse_secret(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def channels_from_args(args: argparse.Namespace, *, region: str | None = None) -> list[Channel]:
    """The channels besides the console: the SNS topic, then the webhooks in order."""
    from smtpwatch.local.delivery import webhook_channel
    from smtpwatch.local.sinks import sns_sink

    channels: list[Channel] = []
    topic = getattr(args, "sns_topic_arn", None)
    if topic:
        if not topic.startswith("arn:") or ":sns:" not in topic:
            raise UsageError(f"--sns-topic-arn: {topic!r} is not an SNS topic ARN")
        channels.append(Channel("sns", f"sns {topic}", sns_sink(topic, region=region).send))
    key = signing_key(args)
    timeout = float(getattr(args, "webhook_timeout", 10.0))
    for index, url in enumerate(webhook_urls(args), start=1):
        try:
            channels.append(webhook_channel(url, index=index, timeout_s=timeout, key=key))
        except ValueError as exc:
            raise UsageError(f"--{exc}") from None
    from smtpwatch.cli.notify_args import notify_channels

    channels += notify_channels(args)
    return channels


def _from_env(option: str, var: str) -> str:
    value = os.environ.get(var, "").strip()
    if not value:
        raise UsageError(f"{option} {var}: the environment variable is not set or empty")
    return value


class StderrNotices:
    """Delivery notices (not delivered, given up, delivered late) on stderr, under the
    console's lock so they never cut into an alert block."""

    def __init__(self, prefix: str, lock: threading.Lock) -> None:
        self._prefix = prefix
        self._lock = lock

    def notice(self, text: str) -> None:
        with self._lock:
            print(f"{self._prefix}: {text}", file=sys.stderr, flush=True)


def pending_notices(outbox: Outbox, channels: list[Channel]) -> list[str]:
    """After `run --once`: what is still pending per channel (sent by a later run)."""
    lines = []
    for channel in channels:
        left = len(outbox.entries(channel=channel.key, states=("pending",)))
        if left:
            lines.append(
                f"{left} alert(s) still pending for {channel.label}: tried again by the next run"
            )
    return lines
