"""`smtpwatch alerts test`: send one test alert through every configured sink.

The console always gets it; ``--sns-topic-arn ARN`` (or ``--stack NAME``, whose
outputs name the alert topic) and ``--webhook URL`` add the others, exactly as
``smtpwatch run`` would use them. Exit 0 when every sink took the alert, 1 otherwise
(each failure is named on stderr).
"""

from __future__ import annotations

import argparse
import sys

from smtpwatch.cli.common import (
    add_json_argument,
    add_sink_arguments,
    sinks_from_args,
    stack_outputs,
    utc_now,
)
from smtpwatch.cli.main import UsageError

EXIT_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", choices=["test"], metavar="ACTION", help="test: send a test alert"
    )
    add_sink_arguments(parser)
    parser.add_argument(
        "--stack", metavar="NAME", help="publish to the alert topic of the deployed stack NAME"
    )
    parser.add_argument("--region", metavar="REGION", help="AWS region (default: the profile's)")
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    from smtpwatch.core.alerting import make_test_alert
    from smtpwatch.local.sinks import ConsoleSink

    if args.stack:
        if args.sns_topic_arn:
            raise UsageError("--stack and --sns-topic-arn exclude each other")
        outputs = stack_outputs(args.stack, args.region)
        topic = outputs.get("AlertTopicArn") or next(
            (v for k, v in outputs.items() if "topic" in k.lower()), None
        )
        if not topic:
            raise UsageError(f"--stack {args.stack}: its outputs name no alert topic")
        args.sns_topic_arn = topic
    sinks = sinks_from_args(args, console=ConsoleSink(json_lines=args.json), region=args.region)
    alert = make_test_alert(now=utc_now())
    failed = 0
    for name, sink in sinks:
        try:
            sink.send(alert)
        except Exception as exc:  # report every sink, then the exit code says it
            failed += 1
            print(f"smtpwatch alerts: NOT delivered to {name}: {exc}", file=sys.stderr)
        else:
            if name != "console" and not args.json:
                print(f"delivered to {name}")
    if not args.json:
        delivered = len(sinks) - failed
        print(f"test alert {alert.alert_id}: {delivered} of {len(sinks)} sinks delivered")
    return EXIT_FAILED if failed else 0
