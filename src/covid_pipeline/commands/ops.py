"""Operating the pipeline: run, status, runs, logs, dq, cost, alarms, load, report, schema, notifications.

Every command talks to "AWS" through the session `aws_session_for` gives it (AWS, or the local
cloud with --local); none of them knows which. Read commands take --json.
Exit codes: 0 ok, 1 the run failed or timed out, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from covid_pipeline.commands.plumbing import (
    _add_common,
    _duration,
    _num,
    _orchestrator,
    _print_json,
    _session,
    _short_id,
    _source_arg,
    _when,
    format_table,
)
from covid_pipeline.config import PipelineConfig
from covid_pipeline.errors import UserError

Handler = Callable[[argparse.Namespace], int]


# --- run -----------------------------------------------------------------------------------------------------------


class _Progress:
    """State + elapsed time on one line (rewritten in a terminal), log lines scrolling above it."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.last_state: str | None = None
        self.status_shown = False

    def _clear(self) -> None:
        if self.tty and self.status_shown:
            self.stream.write("\r\033[K")
            self.status_shown = False

    def state(self, job_run: dict[str, Any]) -> None:
        state = str(job_run.get("JobRunState"))
        elapsed = _duration(time.monotonic() - self.started)
        if self.tty:
            self._clear()
            self.stream.write(f"[{state:<9}] {elapsed} elapsed")
            self.status_shown = True
        elif state != self.last_state:
            self.stream.write(f"[{state}] after {elapsed}\n")
        self.stream.flush()
        self.last_state = state

    def log(self, event: dict[str, Any]) -> None:
        from covid_pipeline.orchestrator import format_log_event

        self._clear()
        self.stream.write("  " + format_log_event(event) + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.status_shown:
            self.stream.write("\n")
            self.status_shown = False


def cmd_run(args: argparse.Namespace) -> int:
    from covid_pipeline.common import FAILED_STATES
    from covid_pipeline.orchestrator import parse_overrides

    overrides = parse_overrides(args.arg or [])
    with _session(args) as (config, session):
        orchestrator = _orchestrator(config, session)
        run_id = orchestrator.start_run(args.source, overrides)
        if args.no_follow:
            print(json.dumps({"run_id": run_id}) if args.json else run_id)
            return 0
        print(f"started {orchestrator.job_name} run {run_id} (source {args.source})", flush=True)
        progress = _Progress()
        try:
            final = orchestrator.follow(
                run_id,
                on_state=progress.state,
                on_log=None if args.quiet else progress.log,
                poll_seconds=args.poll,
                timeout_seconds=args.timeout,
            )
        except TimeoutError as exc:
            progress.done()
            print(f"error: {exc} (the run goes on; follow it with `covid-pipeline logs {run_id}`)", file=sys.stderr)
            return 1
        progress.done()
        record = orchestrator.record(run_id)
        state = final.get("JobRunState")
        if args.json:
            _print_json(record.as_dict())
        if state in FAILED_STATES:
            print(f"run {run_id} {state}: {final.get('ErrorMessage') or 'no error message'}", file=sys.stderr)
            return 1
        if not args.json:
            manifest = record.manifest or {}
            print(
                f"run {run_id} {state} in {_duration(record.duration_seconds)}: "
                f"rows in {_num(manifest.get('rows_in'))}, out {_num(manifest.get('rows_out'))}, "
                f"quarantined {_num(manifest.get('rows_quarantined'))}, DQ score {_score(record.dq_score)}, "
                f"est. ${record.cost.usd:.4f}"
            )
        return 0


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:.3f}"


# --- status / runs / logs --------------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    with _session(args) as (config, session):
        orchestrator = _orchestrator(config, session)
        latest: dict[str, Any] = {}
        for record in orchestrator.records(limit=50):
            latest.setdefault(record.source, record)
        ingestion = _ingestion_runs(config, session, limit=1)
        if args.json:
            _print_json(
                {
                    "job_name": orchestrator.job_name,
                    "latest": {s: r.as_dict() for s, r in latest.items()},
                    "latest_ingestion": ingestion[0] if ingestion else None,
                }
            )
            return 0
        if ingestion:
            print(_ingestion_table(ingestion) + "\n")
        if not latest:
            print(f"{orchestrator.job_name}: no runs yet")
            return 0
        rows = [
            [
                orchestrator.job_name,
                source,
                r.run_id,
                r.state,
                _when(r.started_on),
                _duration(r.duration_seconds),
                _score(r.dq_score),
                (r.job_run.get("ErrorMessage") or "")[:60],
            ]
            for source, r in sorted(latest.items())
        ]
        print(format_table(["job", "source", "run id", "state", "started", "duration", "dq", "error"], rows))
        return 0


def cmd_runs(args: argparse.Namespace) -> int:
    with _session(args) as (config, session):
        records = _orchestrator(config, session).records(limit=args.limit, source=args.source)
        ingestion = _ingestion_runs(config, session, limit=args.limit) if args.source is None else []
        if args.json:
            # Job runs first (newest first), then the ingestion runs ("kind": "ingestion").
            _print_json([r.as_dict() for r in records] + ingestion)
            return 0
        rows = [
            [
                _short_id(r.run_id) if not args.full_ids else r.run_id,
                r.source,
                r.state,
                _when(r.started_on),
                _duration(r.duration_seconds),
                _num(r.manifest_value("rows_in")),
                _num(r.manifest_value("rows_out")),
                _num(r.manifest_value("rows_quarantined")),
                _score(r.dq_score),
                f"${r.cost.usd:.4f}",
            ]
            for r in records
        ]
        headers = [
            "run id",
            "source",
            "state",
            "started",
            "duration",
            "rows in",
            "rows out",
            "quar.",
            "dq",
            "est. cost",
        ]
        print(format_table(headers, rows, right=(5, 6, 7, 8, 9)) if rows else "no runs yet")
        if ingestion:
            print("\n" + _ingestion_table(ingestion))
        return 0


def _ingestion_runs(config: PipelineConfig, session: boto3.Session, limit: int) -> list[dict[str, Any]]:
    from covid_pipeline.commands.ingest import ingestion_runs

    return ingestion_runs(config, session, limit)


def _ingestion_table(runs: list[dict[str, Any]]) -> str:
    from covid_pipeline.commands.ingest import ingestion_rows

    return ingestion_rows(runs)


def cmd_logs(args: argparse.Namespace) -> int:
    from covid_pipeline.orchestrator import format_log_event

    with _session(args) as (config, session):
        events = list(_orchestrator(config, session).run_logs(args.run_id))
        if args.json:
            _print_json(events)
        elif not events:
            print(f"no log events for run {args.run_id} in {config.names.glue_log_group}")
        else:
            for event in events:
                print(format_log_event(event))
        return 0


# --- dq ------------------------------------------------------------------------------------------------------------


def cmd_dq(args: argparse.Namespace) -> int:
    from covid_pipeline.orchestrator import observed_text, parse_day

    day = parse_day(args.date) if args.date else None
    with _session(args) as (config, session):
        orchestrator = _orchestrator(config, session)
        if day is not None:
            records = [r for r in orchestrator.records(source=args.source, started_on=day) if r.manifest]
            if not records:
                raise UserError(f"no runs with data quality results on {day.isoformat()}")
        else:
            # The latest run that wrote results (a run that failed early has none): look a few runs back.
            records = [r for r in orchestrator.records(limit=args.look_back, source=args.source) if r.manifest][:1]
            if not records:
                raise UserError(f"none of the last {args.look_back} runs has data quality results")
        payload = [
            {
                "run_id": r.run_id,
                "state": r.state,
                "started_on": _when(r.started_on),
                "source": r.source,
                "score": r.dq_score,
                "results": (r.manifest_value("data_quality") or {}).get("results", []),
                "quarantine_reasons": r.manifest_value("quarantine_reasons") or {},
            }
            for r in records
        ]
        if args.json:
            _print_json(payload)
            return 0
        for entry in payload:
            print(f"run {entry['run_id']} ({entry['source']}, {entry['state']}, {entry['started_on']})")
            print(f"DQ score {_score(entry['score'])}")
            rows = [
                [
                    "pass" if result.get("success") else "FAIL",
                    result.get("severity", ""),
                    result.get("expectation", ""),
                    observed_text(result),
                ]
                for result in entry["results"]
            ]
            if rows:
                print(format_table(["result", "severity", "expectation", "observed"], rows))
            if entry["quarantine_reasons"]:
                reasons = sorted(entry["quarantine_reasons"].items(), key=lambda kv: -kv[1])
                print("quarantine reasons: " + ", ".join(f"{k}={v:,}" for k, v in reasons))
            print()
        return 0


# --- cost ----------------------------------------------------------------------------------------------------------


def cmd_cost(args: argparse.Namespace) -> int:
    from covid_pipeline.costs import PRICES, cost_per_day, storage_cost, summarize
    from covid_pipeline.orchestrator import parse_day

    start = parse_day(args.start_date, "--start-date") if args.start_date else None
    with _session(args) as (config, session):
        orchestrator = _orchestrator(config, session)
        records = orchestrator.records(started_since=start, with_manifests=False)
        run_costs = [r.cost for r in records]
        storage = storage_cost(orchestrator.bucket_sizes())
        summary = summarize(run_costs, storage)
        summary["start_date"] = start.isoformat() if start else None
        if args.json:
            _print_json(summary)
            return 0
        since = f" since {start.isoformat()}" if start else ""
        print(f"Glue runs{since}: {len(records)}, estimated ${summary['total_glue_usd']:.4f}")
        rows = [
            [
                _short_id(r.run_id),
                r.state,
                _when(r.started_on),
                f"{r.cost.execution_seconds}s",
                f"{r.cost.billed_seconds}s",
                f"{r.cost.dpus:g}",
                f"{r.cost.dpu_hours:.4f}",
                f"${r.cost.usd:.4f}",
            ]
            for r in records
        ]
        if rows:
            print(
                format_table(
                    ["run id", "state", "started", "ran", "billed", "DPU", "DPU-h", "cost"], rows, (3, 4, 5, 6, 7)
                )
            )
            print()
            day_rows = [
                [d.day.isoformat(), d.runs, f"{d.dpu_hours:.4f}", f"${d.usd:.4f}"] for d in cost_per_day(run_costs)
            ]
            print(format_table(["day", "runs", "DPU-h", "cost"], day_rows, (1, 2, 3)))
            print()
        bucket_rows = [[b, f"{n / 1024**2:,.2f} MiB"] for b, n in sorted(storage.bytes_by_bucket.items())]
        if bucket_rows:
            print(format_table(["bucket", "size"], bucket_rows, (1,)))
        print(f"S3 storage: {storage.gb:.4f} GB -> ${storage.usd_per_month:.4f}/month")
        print("Lambda and SQS: negligible at this volume (well under $0.01/month)")
        price = PRICES["glue_dpu_hour"]
        print(
            f"prices: ${price.usd}/DPU-hour (min. 1 min per run), ${PRICES['s3_standard_gb_month'].usd}/GB-month; "
            "see covid_pipeline/costs.py"
        )
        return 0


# --- alarms --------------------------------------------------------------------------------------------------------


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


# --- load / report -------------------------------------------------------------------------------------------------


def default_warehouse_url(config: PipelineConfig) -> str:
    from covid_pipeline.local.provision import local_warehouse_url
    from covid_pipeline.local.session import local_state_dir

    return local_warehouse_url(local_state_dir(config))


def warn_about_password_in_argv(url: str | None) -> None:
    """A password in --warehouse is visible in the process list and shell history: say where else it can come from."""
    from covid_pipeline.warehouse.credentials import PASSWORD_ENV, SECRET_ARN_ENV, url_has_password

    if url and url_has_password(url):
        print(
            f"warning: the --warehouse URL carries a password, which other users can read in the process list; "
            f"leave it out and set {PASSWORD_ENV} or {SECRET_ARN_ENV} (a Secrets Manager secret) instead",
            file=sys.stderr,
        )


def cmd_load(args: argparse.Namespace) -> int:
    from covid_pipeline.warehouse import WarehouseError, load_partitions, redact_url

    warn_about_password_in_argv(args.warehouse)
    with _session(args) as (config, session):
        url = args.warehouse or default_warehouse_url(config)
        if url.startswith("duckdb:///"):
            Path(url[len("duckdb://") :]).parent.mkdir(parents=True, exist_ok=True)
        try:
            result = load_partitions(
                config.output_path(args.source),
                url,
                partitions=args.partition or None,
                source=args.source,
                s3_client=session.client("s3"),
            )
        except WarehouseError as exc:  # unreachable warehouse, bad partition name...: nothing was half-loaded
            raise UserError(str(exc)) from None
        if args.json:
            _print_json({"warehouse": redact_url(url), **result.as_dict()})
        else:
            print(
                f"loaded {len(result.partitions_loaded)} partition(s), {result.rows_loaded:,} rows into "
                f"{redact_url(url)} ({len(result.partitions_skipped)} unchanged, skipped) in {result.seconds:.1f}s"
            )
        return 0


def cmd_warehouse_bootstrap(args: argparse.Namespace) -> int:
    from covid_pipeline.warehouse import WarehouseError
    from covid_pipeline.warehouse.redshift_bootstrap import bootstrap_loader_user

    with _session(args) as (_config, session):
        try:
            done = bootstrap_loader_user(
                args.warehouse,
                args.loader_secret_arn,
                schema=args.schema,
                data_api_client=session.client("redshift-data"),
                secrets_client=session.client("secretsmanager"),
            )
        except WarehouseError as exc:
            raise UserError(str(exc)) from None
        if args.json:
            _print_json(done)
        else:
            print(
                f"loader user {done['user']} {done['action']} (schema {done['schema']}); password in {done['secret']}"
            )
        return 0


def cmd_report(args: argparse.Namespace) -> int:
    from covid_pipeline.local.session import local_state_dir
    from covid_pipeline.report import collect_report_data, render_html, screenshot

    warn_about_password_in_argv(args.warehouse)
    with _session(args) as (config, session):
        url = args.warehouse or default_warehouse_url(config)
        data = collect_report_data(config, session, url, top_countries=args.top)
        out = Path(args.out) if args.out else local_state_dir(config) / "report.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(data), encoding="utf-8")
        for warning in data.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")
        if args.screenshot:
            screenshot(out, Path(args.screenshot), height=args.screenshot_height)
            print(f"wrote {args.screenshot}")
        return 0


# --- schema --------------------------------------------------------------------------------------------------------


def cmd_schema(args: argparse.Namespace) -> int:
    from covid_pipeline.catalog_schema import apply_contract, describe_table, resolve_table

    with _session(args) as (config, session):
        glue = session.client("glue")
        table = resolve_table(config, args.table)
        if args.update:
            source = next(s for s, t in config.names.glue_tables.items() if t == table)
            change = apply_contract(glue, config.names.glue_database, table, location=config.output_path(source))
            if args.json:
                _print_json(change)
            elif change["added"] or change["created"]:
                what = "created" if change["created"] else f"added {', '.join(change['added'])}"
                print(f"{config.names.glue_database}.{table}: {what} (version {change['version']})")
            else:
                print(f"{config.names.glue_database}.{table}: already matches the contract")
            for conflict in change["conflicts"]:
                print(f"warning: {conflict} (type changes are not applied: they are not additive)", file=sys.stderr)
            return 0
        info = describe_table(glue, config.names.glue_database, table)
        if args.json:
            _print_json(info)
            return 0
        print(f"{info['database']}.{info['table']}  location {info['location']}  ({len(info['versions'])} version(s))")
        rows = [[c["name"], c["type"], ""] for c in info["columns"]] + [
            [c["name"], c["type"], "partition key"] for c in info["partition_keys"]
        ]
        print(format_table(["column", "type", ""], rows))
        if info["versions"]:
            print()
            version_rows = [[v["version"], _when(v["updated"]), v["columns"], v["change"]] for v in info["versions"]]
            print(format_table(["version", "updated", "columns", "change"], version_rows, (2,)))
        return 0


# --- notifications -------------------------------------------------------------------------------------------------


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


# --- registration --------------------------------------------------------------------------------------------------


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
