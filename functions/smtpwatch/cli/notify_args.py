"""Notification channels (Apprise URLs) from the command line, the environment, a file.

``--notify URL`` (repeatable), then ``$SMTPWATCH_NOTIFY`` (URLs separated by white space,
or by commas before a scheme, as Apprise's own ``APPRISE_URLS``), then each
``--notify-file PATH`` (one URL per line, ``#`` comments; mode 600, since the URLs carry
tokens): numbered in that order, ``notify-1``, ``notify-2``, ...
"""

from __future__ import annotations

import argparse
import os
import re

from smtpwatch.cli.main import UsageError
from smtpwatch.cli.option_values import bounded_number
from smtpwatch.local.delivery import Channel

__all__ = [
    "ENV",
    "MAX_NOTIFY_TIMEOUT_S",
    "add_notify_arguments",
    "notify_channels",
    "notify_timeout",
    "notify_urls",
    "split_urls",
]

ENV = "SMTPWATCH_NOTIFY"
MAX_NOTIFY_TIMEOUT_S = 300
DEFAULT_TIMEOUT_S = 30.0

# A comma separates two URLs only before a scheme: ``mailto://…?to=a@x,b@y`` is one URL.
_SPLIT = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def add_notify_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "notifications through Apprise (Slack, Teams, Discord, PagerDuty, ntfy, email, ...;"
        f" needs smtpwatch[notify]); also ${ENV}"
    )
    group.add_argument(
        "--notify",
        metavar="URL",
        action="append",
        default=[],
        help="also send each alert to this Apprise URL, e.g. slack://… or ntfys://… "
        f"(repeatable; a token in it is visible to every user: prefer ${ENV} or --notify-file)",
    )
    group.add_argument(
        "--notify-file",
        metavar="PATH",
        action="append",
        default=[],
        help="also send alerts to each Apprise URL in PATH, one per line (mode 600; repeatable)",
    )
    group.add_argument(
        "--notify-timeout",
        metavar="SECONDS",
        type=bounded_number(0, MAX_NOTIFY_TIMEOUT_S, low_open=True),
        default=DEFAULT_TIMEOUT_S,
        help="the deadline of one notification attempt, retries apart (default: 30)",
    )


def split_urls(text: str) -> list[str]:
    return [part for part in _SPLIT.split(text.strip()) if part]


def notify_urls(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(where it came from, URL) in channel order; the source names no URL."""
    from smtpwatch.cli.private_file import read_private_file

    found = [("--notify", url.strip()) for url in getattr(args, "notify", None) or ()]
    found += [(f"${ENV}", url) for url in split_urls(os.environ.get(ENV, ""))]
    for path in getattr(args, "notify_file", None) or ():
        text = read_private_file("--notify-file", path)
        lines = [line.strip() for line in text.splitlines()]
        urls = [line for line in lines if line and not line.startswith("#")]
        if not urls:
            raise UsageError(f"--notify-file {path}: no URL in the file")
        found += [(f"--notify-file {path}", url) for url in urls]
    return found


def notify_timeout(args: argparse.Namespace) -> float:
    return float(getattr(args, "notify_timeout", DEFAULT_TIMEOUT_S))


def notify_channels(args: argparse.Namespace, *, first: int = 1) -> list[Channel]:
    """One channel per URL; refuses, before anything runs, a URL Apprise cannot use and
    any URL at all when Apprise is not installed."""
    urls = notify_urls(args)
    if not urls:
        return []
    from smtpwatch.local.apprise_sink import NotifyUnavailable, notify_channel

    channels = []
    for index, (source, url) in enumerate(urls, start=first):
        try:
            channels.append(notify_channel(url, index=index, timeout_s=notify_timeout(args)))
        except NotifyUnavailable as exc:
            raise UsageError(f"{source}: {exc}") from None
        except ValueError as exc:
            raise UsageError(f"{source} (notify-{index}): {exc}") from None
    return channels
