"""Operating the pipeline: the arguments of run, status, runs, logs, dq, cost, alarms, load, report, schema and
notifications, registered in the order `covid-pipeline --help` lists them. Each command's handler lives in the module
of what it operates on: job_runs, cost, alerts, warehouse, schema.

Every command talks to "AWS" through the session `aws_session_for` gives it (AWS, or the local
cloud with --local); none of them knows which. Read commands take --json.
Exit codes: 0 ok, 1 the run failed or timed out, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse

from covid_pipeline.commands.alerts import cmd_alarms, cmd_notifications
from covid_pipeline.commands.cost import cmd_cost
from covid_pipeline.commands.job_runs import cmd_dq, cmd_logs, cmd_run, cmd_runs, cmd_status
from covid_pipeline.commands.plumbing import _add_common, _source_arg
from covid_pipeline.commands.schema import cmd_schema
from covid_pipeline.commands.warehouse import cmd_load, cmd_report, cmd_warehouse_bootstrap


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="start a Glue job run and follow it until it ends")
    _add_common(p)
    _source_arg(p)
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="job argument override (repeatable)")
    p.add_argument("--no-follow", action="store_true", help="print the run id and return")
    p.add_argument("--quiet", action="store_true", help="progress only, no log lines")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between status polls (default 2)")
    p.add_argument("--timeout", type=float, default=None, help="stop following after this many seconds (exit 1)")
    p.set_defaults(handler=cmd_run)

    p = subparsers.add_parser("status", help="the latest run of the job per source")
    _add_common(p)
    p.set_defaults(handler=cmd_status)

    p = subparsers.add_parser("runs", help="run history: state, duration, rows, DQ score, estimated cost")
    _add_common(p)
    _source_arg(p, default=None)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--full-ids", action="store_true", help="do not shorten run ids")
    p.set_defaults(handler=cmd_runs)

    p = subparsers.add_parser("logs", help="log lines of a run (CloudWatch Logs)")
    _add_common(p)
    p.add_argument("run_id")
    p.set_defaults(handler=cmd_logs)

    p = subparsers.add_parser("dq", help="data quality results of the latest run, or of the runs on a date")
    _add_common(p)
    _source_arg(p, default=None)
    p.add_argument("--date", help="YYYY-MM-DD (UTC day the runs started)")
    p.add_argument("--look-back", type=int, default=20, help="runs searched for the latest results (default 20)")
    p.set_defaults(handler=cmd_dq)

    p = subparsers.add_parser("cost", help="estimated cost per run and per day, plus S3 storage")
    _add_common(p)
    p.add_argument("--start-date", help="only runs started on or after YYYY-MM-DD")
    p.set_defaults(handler=cmd_cost)

    p = subparsers.add_parser("alarms", help="CloudWatch alarm states")
    _add_common(p)
    p.add_argument("--no-evaluate", action="store_true", help="show stored states without evaluating (emulator only)")
    p.set_defaults(handler=cmd_alarms)

    p = subparsers.add_parser("load", help="load the job output into the warehouse (incremental, idempotent)")
    _add_common(p)
    _source_arg(p)
    p.add_argument(
        "--warehouse",
        help="duckdb:///path | postgresql://user@host:port/db | redshift://... (default: duckdb under .local/<env>/); "
        "keep passwords out of it: COVID_WAREHOUSE_PASSWORD or COVID_WAREHOUSE_SECRET_ARN",
    )
    p.add_argument(
        "--partition",
        action="append",
        help="only this partition, e.g. year=2021/month=3 (repeatable); without: every partition whose content "
        "differs from the warehouse's (what a missed or failed load left behind included)",
    )
    p.set_defaults(handler=cmd_load)

    p = subparsers.add_parser(
        "warehouse-bootstrap",
        help="Redshift: create (or re-password) the loader's own user and grants, store its password in its secret",
    )
    _add_common(p)
    p.add_argument(
        "--warehouse",
        required=True,
        help="redshift://<cluster>/<db>?secret_arn=<MASTER secret>&iam_role=<COPY role> (terraform output redshift)",
    )
    p.add_argument(
        "--loader-secret-arn",
        required=True,
        help="the loader's secret (terraform output redshift); Terraform wrote the user name into it",
    )
    p.add_argument("--schema", default="covid_warehouse", help="the schema the loader owns (default covid_warehouse)")
    p.set_defaults(handler=cmd_warehouse_bootstrap)

    p = subparsers.add_parser("report", help="write the self-contained HTML report")
    _add_common(p, json_output=False)
    p.add_argument("--out", help="output file (default .local/<env>/report.html)")
    p.add_argument("--warehouse", help="warehouse URL (default: the local DuckDB file)")
    p.add_argument("--top", type=int, default=6, help="countries in the charts (default 6)")
    p.add_argument("--screenshot", metavar="PNG", help="also render the page in headless Chromium to this PNG")
    p.add_argument("--screenshot-height", type=int, default=2000, help="PNG height in pixels (width 1400)")
    p.set_defaults(handler=cmd_report)

    p = subparsers.add_parser("schema", help="show the Glue table's schema and versions, or --update it")
    _add_common(p)
    p.add_argument("--table", default="jhu_daily", help="source name or catalog table (default jhu_daily)")
    p.add_argument("--update", action="store_true", help="apply the job's schema contract (additive UpdateTable)")
    p.set_defaults(handler=cmd_schema)

    p = subparsers.add_parser("notifications", help="alerts published to the SNS topic (the local inbox queue)")
    _add_common(p)
    p.add_argument("--ack", action="store_true", help="delete the messages after showing them")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=cmd_notifications)
