"""`smtpwatch alerts test|list`: try every alert channel now; list the alert outbox.

``test`` sends a test alert to the console and to every channel ``smtpwatch run`` would
use (``--sns-topic-arn`` or ``--stack``, the webhooks), one direct attempt each: exit 0
when all took it, 1 otherwise, each failure named on stderr; with ``--json`` one document
(the alert, each channel's verdict, the count). ``list`` shows the alerts recorded for
delivery in the local store (``cli.outbox_view``).
"""

from __future__ import annotations

import argparse
import json
import sys

from smtpwatch.cli.color import add_color_argument, use_color
from smtpwatch.cli.delivery_args import (
    add_delivery_arguments,
    add_sink_arguments,
    channels_from_args,
)
from smtpwatch.cli.main import UsageError
from smtpwatch.cli.output import add_json_argument
from smtpwatch.core.safe_text import guard
from smtpwatch.core.schedule import utc_now
from smtpwatch.core.state import Alert
from smtpwatch.ports import AlertSink

EXIT_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=["test", "list"],
        metavar="ACTION",
        help="test: send a test alert to every channel now; list: the alert outbox",
    )
    add_sink_arguments(parser)
    add_delivery_arguments(parser)
    parser.add_argument("--db", metavar="PATH", help="list: the SQLite database (as for run)")
    parser.add_argument(
        "--stack", metavar="NAME", help="publish to the alert topic of the deployed stack NAME"
    )
    parser.add_argument("--region", metavar="REGION", help="AWS region (default: the profile's)")
    add_json_argument(parser)
    add_color_argument(parser)


def run(args: argparse.Namespace) -> int:
    from smtpwatch.core.alerting import make_test_alert
    from smtpwatch.local.sinks import ConsoleSink

    if args.action == "list":
        from smtpwatch.cli.outbox_view import run_list

        return run_list(args)
    if args.stack:
        if args.sns_topic_arn:
            raise UsageError("--stack and --sns-topic-arn exclude each other")
        from smtpwatch.cli.aws_backend import stack_outputs

        outputs = stack_outputs(args.stack, args.region)
        topic = outputs.get("AlertTopicArn") or next(
            (v for k, v in outputs.items() if "topic" in k.lower()), None
        )
        if not topic:
            raise UsageError(f"--stack {args.stack}: its outputs name no alert topic")
        args.sns_topic_arn = topic
    # Each channel's own sender, one attempt now: the verdict per channel is the truth.
    channels = channels_from_args(args, region=args.region)
    # Under --json the console's part is the document printed at the end.
    console = None if args.json else ConsoleSink(color=use_color(args.color, sys.stdout))
    sinks: list[tuple[str, AlertSink | None]] = [("console", console)]
    sinks += [(c.label, c) for c in channels]
    alert = make_test_alert(now=utc_now())
    verdicts: list[dict[str, object]] = []
    for name, sink in sinks:
        error = None
        try:
            if sink is not None:
                sink.send(alert)
        except Exception as exc:  # report every sink, then the exit code says it
            error = str(exc)
            print(f"smtpwatch alerts: NOT delivered to {name}: {exc}", file=sys.stderr)
        else:
            if name != "console" and not args.json:
                print(f"delivered to {name}")
        verdicts.append({"channel": name, "delivered": error is None, "error": error})
    delivered = sum(1 for v in verdicts if v["delivered"])
    if args.json:
        _print_document(alert, verdicts, delivered)
    else:
        print(f"test alert {alert.alert_id}: {delivered} of {len(sinks)} sinks delivered")
    return EXIT_FAILED if delivered < len(sinks) else 0


def _print_document(alert: Alert, verdicts: list[dict[str, object]], delivered: int) -> None:
    from smtpwatch.core import alert_text

    doc = {
        "alert": alert_text.document(alert),
        "channels": verdicts,
        "delivered": delivered,
        "total": len(verdicts),
    }
    # Through the terminal guard, as the console's alert lines: server text is quoted.
    guard(sys.stdout).write(json.dumps(doc, ensure_ascii=False) + "\n")
