"""`smtpwatch run [--once]`: probe the local store's targets on schedule, on this machine.

Continuous: each target on its own interval, edits picked up within a second; SIGINT/
SIGTERM stop cleanly (checks in flight get ``--grace`` seconds; a second signal stops at
once). ``--once``: every enabled target probed once now, then exit with the worst
result's monitoring-plugin code. Alerts go to the console as checks decide them and,
through the store's outbox, to webhooks and SNS on delivery threads.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from smtpwatch.cli.backend import add_backend_arguments, open_local_store
from smtpwatch.cli.color import add_color_argument, use_color
from smtpwatch.cli.delivery_args import (
    StderrNotices,
    add_delivery_arguments,
    add_sink_arguments,
    channels_from_args,
    pending_notices,
)
from smtpwatch.cli.main import UsageError
from smtpwatch.cli.notify_args import notify_timeout
from smtpwatch.cli.option_values import bounded_number
from smtpwatch.cli.output import add_json_argument
from smtpwatch.cli.run_console import Console
from smtpwatch.local.scheduler import DEFAULT_CONCURRENCY, LocalScheduler
from smtpwatch.ports import AlertSink

EXIT_UNKNOWN = 3
DRAIN_MARGIN_S = 5.0  # run --once: delivery tries after the sweep, beyond the webhook timeout
DELIVERY_GRACE_S = 2.0  # on stop: for a delivery in flight (its alert stays pending anyway)
MAX_CONCURRENCY = 512
# Finite bounds for the numeric options: NaN, infinity or 1e308 once reached the first
# prune (a date computed from them) before anything said they were wrong.
MAX_GRACE_S = 3600
MAX_RETENTION_DAYS = 36500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once",
        action="store_true",
        help="probe every enabled target once now, then exit with the worst status (0-3)",
    )
    add_backend_arguments(parser, aws=False)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"probes at the same time (default: {DEFAULT_CONCURRENCY})",
    )
    add_sink_arguments(parser)
    add_delivery_arguments(parser)
    parser.add_argument(
        "--grace",
        type=bounded_number(0, MAX_GRACE_S),
        default=5.0,
        metavar="SECONDS",
        help=f"on stop, seconds to let checks in flight finish (default: 5, at most {MAX_GRACE_S})",
    )
    parser.add_argument(
        "--ehlo-name", metavar="NAME", help="EHLO name for targets without ehlo_name"
    )
    parser.add_argument(
        "--location",
        metavar="NAME",
        help="this installation's name, stored with every result (default: "
        "$SMTPWATCH_LOCATION, else the host name)",
    )
    parser.add_argument(
        "--secrets-prefix",
        metavar="PREFIX",
        help="allow ssm:/secretsmanager: password_refs under PREFIX (needs AWS credentials)",
    )
    parser.add_argument(
        "--retention-days",
        type=bounded_number(0, MAX_RETENTION_DAYS),
        default=30.0,
        metavar="DAYS",
        help=f"delete results older than DAYS days (default: 30; 0 keeps them; at most "
        f"{MAX_RETENTION_DAYS})",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print alerts and summaries, not every check"
    )
    parser.add_argument(
        "--serve",
        metavar="[ADDR:]PORT",
        help="also serve /metrics and /api/targets as `smtpwatch serve` does (address "
        "default 127.0.0.1; password from $SMTPWATCH_SERVE_PASSWORD if set)",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="with --serve: allow a non-loopback address"
    )
    add_json_argument(parser)
    add_color_argument(parser)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency: must be 1-{MAX_CONCURRENCY}, not {args.concurrency}")
    if args.grace < 0:
        raise UsageError("--grace: must be 0 or more seconds")
    if args.retention_days < 0:
        raise UsageError("--retention-days: must be 0 or more")
    if args.serve is not None:
        if args.once:
            raise UsageError("--serve goes with the continuous run, not --once")
        from smtpwatch.cli.serve_cmd import check_listen

        check_listen("--serve", args.serve, args.allow_remote)
    if args.ehlo_name is not None:
        args.ehlo_name = _ehlo_name_option(args.ehlo_name)
    if args.location is not None:
        args.location = _location_option(args.location)

    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.probe import ProbeEnvironment
    from smtpwatch.local.delivery import Deliveries, OutboxSink
    from smtpwatch.local.outbox import Outbox
    from smtpwatch.local.secrets import FileSecretStore, LocalSecretResolver, default_secrets_dir
    from smtpwatch.local.sinks import ConsoleSink

    logging.basicConfig(level=logging.WARNING, format="smtpwatch: %(levelname)s %(message)s")
    # Sink failures are reported with their reason by the Console; the check's own
    # one-word warning would only repeat it.
    logging.getLogger("smtpwatch.check").setLevel(logging.ERROR)

    console = Console(json_lines=args.json, quiet=args.quiet)
    color = use_color(args.color, console.stream)
    channels = channels_from_args(args)
    try:
        env = ProbeEnvironment.from_environ(location=args.location)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.ehlo_name:
        env.default_ehlo_name = args.ehlo_name
    store = open_local_store(args.db)
    outbox = Outbox(store)
    notices = StderrNotices("smtpwatch run", console.lock)
    deliveries = Deliveries(outbox, channels, listener=notices)
    sinks: list[tuple[str, AlertSink]] = [
        ("console", ConsoleSink(json_lines=args.json, lock=console.lock, color=color))
    ]
    if channels:
        sinks.append(("the alert outbox", OutboxSink(outbox, channels, wake=deliveries.wake)))
    where = f"SQLite {store.path}"
    scheduler = LocalScheduler(
        store,
        sinks=sinks,
        secrets=LocalSecretResolver(
            files=FileSecretStore(default_secrets_dir(store.path)), aws_prefix=args.secrets_prefix
        ),
        concurrency=args.concurrency,
        listener=console,
        env=env,
        retention_days=args.retention_days or None,
    )
    stop = threading.Event()
    abandon = threading.Event()
    stop_serving: Callable[[], None] = lambda: None  # noqa: E731 (replaced by --serve)
    _install_signals(stop, abandon)
    sink_names = ", ".join(["console", *(c.label for c in channels)])
    try:
        if args.once:
            code = _once(scheduler, console, where, stop, abandon, args.grace)
            if channels and not stop.is_set():
                deliveries.drain(max(args.webhook_timeout, notify_timeout(args)) + DRAIN_MARGIN_S)
                for line in pending_notices(outbox, channels):
                    notices.notice(line)
            return code
        targets = scheduler.load_targets()
        enabled = sum(1 for t in targets if t.enabled)
        console.notice(
            f"smtpwatch run: {_count(len(targets), 'target')} ({enabled} enabled) in {where}; "
            f"{scheduler.concurrency} workers; alerts to {sink_names}; Ctrl-C to stop"
        )
        if not targets:
            console.notice("no targets yet: add one with `smtpwatch targets add`; waiting")
        deliveries.start()
        if args.serve is not None:
            from smtpwatch.cli.serve_cmd import serve_beside

            stop_serving = serve_beside(
                args.serve, args.allow_remote, store.path, env.location, console.notice
            )
        scheduler.run(stop)
        deliveries.stop(grace_s=min(args.grace, DELIVERY_GRACE_S))
        in_flight = scheduler.in_flight()
        if in_flight and not abandon.is_set():
            console.notice(
                f"stopping: {in_flight} check(s) in flight, waiting up to {args.grace:g} s "
                "(signal again to stop now)"
            )
        abandoned = scheduler.shutdown(grace_s=args.grace, abandon=abandon)
        console.notice(
            "stopped"
            + (
                f"; {abandoned} check(s) abandoned: those targets are probed again at next start"
                if abandoned
                else ""
            )
        )
        return 0
    finally:
        stop_serving()
        deliveries.stop(grace_s=0)
        scheduler.shutdown(grace_s=0)


def _ehlo_name_option(text: str) -> str:
    """``--ehlo-name`` as a target's ``ehlo_name`` is checked: it goes into the dialogue
    as is, so a line break in it would be a command of its own."""
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.target import parse_ehlo_name

    try:
        return parse_ehlo_name(text)
    except ConfigError as exc:
        raise UsageError(f"--ehlo-name: {exc.reason}") from None


def _location_option(text: str) -> str:
    """``--location``: 1 to 64 characters on one line, checked before anything runs."""
    from smtpwatch.core.errors import ConfigError
    from smtpwatch.core.probe import parse_location

    try:
        return parse_location("--location", text)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _once(
    scheduler: LocalScheduler,
    console: Console,
    where: str,
    stop: threading.Event,
    abandon: threading.Event,
    grace_s: float,
) -> int:
    targets = [t for t in scheduler.load_targets() if t.enabled]
    if not targets:
        console.notice(f"no enabled targets in {where}: nothing to probe")
        return EXIT_UNKNOWN
    if not console.quiet:
        console.notice(
            f"probing {_count(len(targets), 'target')} once ({scheduler.concurrency} workers)"
        )
    summary = scheduler.sweep(stop=stop, abandon=abandon, grace_s=grace_s)
    counts = summary.counts()
    text = ", ".join(f"{n} {status}" for status, n in counts.items() if n or status != "unknown")
    if summary.interrupted:
        text = (
            f"interrupted after {summary.seconds:.1f} s: {len(summary.reports)} of "
            f"{_count(len(targets), 'target')} checked ({text}); {summary.abandoned} abandoned"
        )
    else:
        text = f"swept {_count(len(summary.reports), 'target')} in {summary.seconds:.1f} s: {text}"
    console.line(
        text,
        type="summary",
        interrupted=summary.interrupted,
        checked=len(summary.reports),
        total=len(targets),
        counts=counts,
        seconds=round(summary.seconds, 3),
        exit_code=summary.exit_code,
    )
    return summary.exit_code


def _install_signals(stop: threading.Event, abandon: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            abandon.set()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)
