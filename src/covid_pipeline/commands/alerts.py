"""What alerts the operators: `alarms` (CloudWatch alarm states) and `notifications` (what the alerts topic sent)."""

from __future__ import annotations

import argparse
from typing import Any

from covid_pipeline.commands.plumbing import _print_json, _session, _when, format_table


def cmd_alarms(args: argparse.Namespace) -> int:
    from covid_pipeline.local.session import refresh_emulated_alarms

    with _session(args) as (config, session):
        cloudwatch = session.client("cloudwatch")
        if not args.no_evaluate:
            refresh_emulated_alarms(session)  # no-op on AWS, where CloudWatch evaluates alarms itself
        alarms: list[dict[str, Any]] = []
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=config.names.prefix):
            alarms.extend(page.get("MetricAlarms", []))
            alarms.extend(page.get("CompositeAlarms", []))
        payload = [
            {
                "name": a["AlarmName"],
                "state": a.get("StateValue"),
                "reason": a.get("StateReason"),
                "updated": a.get("StateUpdatedTimestamp"),
                "metric": a.get("MetricName"),
                "namespace": a.get("Namespace"),
                "threshold": a.get("Threshold"),
                "comparison": a.get("ComparisonOperator"),
            }
            for a in alarms
        ]
        if args.json:
            _print_json(payload)
        elif not payload:
            print(f"no alarms with prefix {config.names.prefix}")
        else:
            rows = [
                [p["name"], p["state"], p["metric"] or "", _when(p["updated"]), (p["reason"] or "")[:70]]
                for p in payload
            ]
            print(format_table(["alarm", "state", "metric", "updated", "reason"], rows))
        return 0


def cmd_notifications(args: argparse.Namespace) -> int:
    from covid_pipeline.alerts_inbox import read_inbox

    with _session(args) as (config, session):
        messages = read_inbox(
            session.client("sqs"), f"{config.names.prefix}-alerts-inbox", ack=args.ack, limit=args.limit
        )
        if args.json:
            _print_json(messages)
        elif not messages:
            print("no notifications")
        else:
            for message in messages:
                print(f"{message['timestamp'] or '-'}  {message['subject'] or '(no subject)'}")
                print("  " + message["summary"].replace("\n", "\n  "))
        return 0
