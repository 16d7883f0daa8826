"""The warehouse: `load` the job's output into it, `warehouse-bootstrap` its loader user (Redshift), `report` from it.

Without --warehouse, the local DuckDB file of the environment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from covid_pipeline.commands.plumbing import _print_json, _session
from covid_pipeline.config import PipelineConfig
from covid_pipeline.errors import UserError


def default_warehouse_url(config: PipelineConfig) -> str:
    from covid_pipeline.local.provision import local_warehouse_url
    from covid_pipeline.local.state_folder import local_state_dir

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
    from covid_pipeline.local.state_folder import local_state_dir
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
