"""`covid-pipeline ingest [--source S] [--date D]`: one ingestion run by hand, with the deployed function's own
configuration (its environment, read through the Lambda API: the URLs and names Terraform gave it), so it fetches
exactly what the next schedule tick would. Also the ingestion runs `runs` and `status` show beside job runs.

Exit codes: 0 the run succeeded (possibly with nothing new), 1 a fetch failed or was refused, 2 bad input.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

import boto3

from covid_pipeline.commands.plumbing import _add_common, _print_json, _session, format_table
from covid_pipeline.config import PipelineConfig
from covid_pipeline.errors import UserError
from covid_pipeline.ingestion.sources import SourceConfigError
from covid_pipeline.ingestion.state import IngestionState

FUNCTION = "ingestion"  # the function's short name in terraform/locals.tf (lambda_functions)


def ingestion_state(config: PipelineConfig, session: boto3.Session) -> IngestionState:
    stack = config.stack
    return IngestionState(session.client("s3"), stack["buckets"]["processed"], stack["state_prefix"])


def ingestion_runs(config: PipelineConfig, session: boto3.Session, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ingestion run records first; [] for an environment deployed before ingestion existed."""
    if FUNCTION not in config.names.lambda_functions:
        return []
    return ingestion_state(config, session).recent_runs(limit)


def ingestion_rows(runs: list[dict[str, Any]]) -> str:
    """The ingestion runs as a table: when, state, and what each run stored, refused or failed on."""
    rows = []
    for run in runs:
        counts = run.get("counts") or {}
        problems = [
            f"{o['source']}: {o['reason']}" for o in run.get("outcomes", []) if o["status"] in ("refused", "failed")
        ]
        started = datetime.fromtimestamp(float(run.get("started_at") or 0), UTC).strftime("%Y-%m-%d %H:%M:%S")
        rows.append(
            [
                run["run_id"],
                run.get("state"),
                started,
                counts.get("stored", 0),
                counts.get("unchanged", 0),
                "; ".join(problems)[:70],
            ]
        )
    return format_table(["ingestion run", "state", "started", "stored", "unchanged", "problems"], rows, right=(3, 4))


def cmd_ingest(args: argparse.Namespace) -> int:
    from covid_pipeline.ingestion.service import Ingestor, Settings

    with _session(args) as (config, session):
        function = config.names.lambda_functions.get(FUNCTION)
        if not function:
            raise UserError(f"environment {config.environment} has no ingestion function: apply its Terraform first")
        configuration = session.client("lambda").get_function_configuration(FunctionName=function)
        try:
            settings = Settings.from_env((configuration.get("Environment") or {}).get("Variables") or {})
        except (RuntimeError, SourceConfigError) as exc:
            raise UserError(f"{function}: {exc}") from None
        ingestor = Ingestor(settings, session.client("s3"), session.client("cloudwatch"), session.client("sns"))
        try:
            run = ingestor.run(datetime.now(UTC), args.source, args.date)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if args.json:
            _print_json(run.as_dict())
        else:
            rows = [
                [o.source, o.day or "", o.status, o.key or o.reason or "", (o.detail or "")[:60]] for o in run.outcomes
            ]
            print(format_table(["source", "day", "outcome", "key / reason", "detail"], rows))
            print(f"\n{run.run_id}: {run.state}")
        return 0 if run.state == "SUCCEEDED" else 1


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ingest", help="fetch what is new from the sources now (what a schedule tick does)")
    _add_common(p)
    p.add_argument("--source", default=None, help="one ingestion source (default: every configured source)")
    p.add_argument("--date", type=_day, default=None, help="daily reports: fetch this report date (YYYY-MM-DD)")
    p.set_defaults(handler=cmd_ingest)
