"""`covid-pipeline report`: one self-contained HTML page about the data and the pipeline.

collect_report_data() is the I/O edge (warehouse views, Glue runs, manifests); render_html() (report_view, with
the Jinja2 templates in report_templates/) is a pure function of ReportData (report_data), so its output is tested
on hand-written data. A part that cannot be read (no warehouse yet, no runs) becomes a warning on the page, not a
crash.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from covid_pipeline.report_data import ReportData, RunRow
from covid_pipeline.report_view import render_html

# What the CLI and the tests use: collecting here, the data and the page from their own modules.
__all__ = ["ReportData", "RunRow", "collect_report_data", "find_chromium", "render_html", "screenshot"]

log = logging.getLogger(__name__)


# --- collecting (I/O edge) -------------------------------------------------------------------------------------------

LATEST_SQL = """
SELECT country, iso3, report_date, confirmed, deaths, new_confirmed, new_deaths, population,
       case_fatality_rate, incidence_per_100k
FROM v_latest_by_country ORDER BY confirmed DESC NULLS LAST, country
"""
SERIES_SQL = """
SELECT country, report_date, new_confirmed_7day_avg, new_deaths_7day_avg
FROM v_7day_avg WHERE country IN ({placeholders}) ORDER BY country, report_date
"""


def query_warehouse(url: str, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Read-only query against the warehouse URL's engine (DuckDB file or PostgreSQL)."""
    if url.startswith("duckdb:///"):
        import duckdb

        path = url[len("duckdb://") :]
        with duckdb.connect(path, read_only=True) as duck:
            cursor = duck.execute(sql.replace("%s", "?"), params or [])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(url, connect_timeout=10) as connection, connection.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params or [])
            return [dict(row) for row in cur.fetchall()]
    raise ValueError(f"the report reads DuckDB or PostgreSQL warehouses, not {url.split(':', 1)[0]}")


def collect_warehouse(data: ReportData, url: str, top_countries: int) -> None:
    import os

    if url.startswith("duckdb:///") and not os.path.exists(url[len("duckdb://") :]):
        data.warnings.append(f"no warehouse at {url[len('duckdb://') :]} yet: run `covid-pipeline load` first")
        return
    try:
        latest = query_warehouse(url, LATEST_SQL)
    except Exception as exc:  # an unloaded or unreachable warehouse is a gap in the page, not a failure
        data.warnings.append(f"warehouse not readable ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})")
        return
    data.latest = latest
    countries = [row["country"] for row in latest[:top_countries] if row["country"] is not None]
    if not countries:
        return
    placeholders = ", ".join(["%s"] * len(countries))
    rows = query_warehouse(url, SERIES_SQL.format(placeholders=placeholders), countries)
    series: dict[str, list[tuple[date, float | None, float | None]]] = {c: [] for c in countries}
    for row in rows:
        series[row["country"]].append(
            (_as_date(row["report_date"]), _float(row["new_confirmed_7day_avg"]), _float(row["new_deaths_7day_avg"]))
        )
    data.series = series


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def collect_runs(data: ReportData, config: Any, session: Any, limit: int = 30) -> None:
    from covid_pipeline.orchestrator import Orchestrator

    try:
        orchestrator = Orchestrator(config, session)
        records = orchestrator.records(limit=limit)
    except Exception as exc:
        data.warnings.append(f"job runs not readable ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})")
        return
    for record in records:
        manifest = record.manifest or {}
        data.runs.append(
            RunRow(
                run_id=record.run_id,
                state=record.state,
                started_on=record.started_on,
                duration_seconds=record.duration_seconds,
                rows_in=manifest.get("rows_in"),
                rows_out=manifest.get("rows_out"),
                rows_quarantined=manifest.get("rows_quarantined"),
                rows_duplicate=manifest.get("rows_duplicate"),
                dq_score=record.dq_score,
                cost_usd=record.cost.usd,
                source=record.source,
                error_message=record.job_run.get("ErrorMessage"),
                dq_results=list((manifest.get("data_quality") or {}).get("results", [])),
                quarantine_reasons={str(k): int(v) for k, v in (manifest.get("quarantine_reasons") or {}).items()},
            )
        )
    try:
        from covid_pipeline.costs import storage_cost

        data.storage_usd_per_month = storage_cost(orchestrator.bucket_sizes()).usd_per_month
    except Exception as exc:
        data.warnings.append(f"bucket sizes not readable ({type(exc).__name__})")


def collect_report_data(config: Any, session: Any, warehouse_url: str, top_countries: int = 6) -> ReportData:
    data = ReportData(
        environment=config.environment,
        generated_at=datetime.now(UTC),
        warehouse=_redact(warehouse_url),
        dq_threshold=_float(config.values.get("dq_score_threshold")),
    )
    collect_warehouse(data, warehouse_url, top_countries)
    collect_runs(data, config, session)
    return data


def _redact(url: str) -> str:
    from covid_pipeline.warehouse.loader import redact_url  # the project's one redaction function

    return redact_url(url)


# --- screenshot (for the README; needs Debian's chromium) -------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(html_path: Path, png_path: Path, width: int = 1400, height: int = 2000) -> None:
    """Render the report in headless Chromium (no network) and save a PNG."""
    import subprocess
    import tempfile

    from covid_pipeline.errors import UserError

    browser = find_chromium()
    if browser is None:
        raise UserError("--screenshot needs chromium (Debian: apt-get install -y chromium)")
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        result = subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={png_path.resolve()}",
                f"--window-size={width},{height}",
                "--virtual-time-budget=3000",
                html_path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    if result.returncode != 0 or not png_path.is_file():
        raise UserError(f"chromium could not render {html_path}: {result.stderr.strip().splitlines()[-1:]}")
