"""`covid-pipeline report`: one self-contained HTML page about the data and the pipeline.

collect_report_data() is the I/O edge (warehouse views, Glue runs, manifests); render_html() is a
pure function of ReportData, so its output is tested on hand-written data. A part that cannot be
read (no warehouse yet, no runs) becomes a warning on the page, not a crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from typing import Any

from covid_pipeline import report_charts as charts
from covid_pipeline import report_template as template

log = logging.getLogger(__name__)


@dataclass
class RunRow:
    run_id: str
    state: str
    started_on: datetime | None
    duration_seconds: int | None
    rows_in: int | None = None
    rows_out: int | None = None
    rows_quarantined: int | None = None
    rows_duplicate: int | None = None
    dq_score: float | None = None
    cost_usd: float = 0.0
    source: str = "jhu_daily"
    error_message: str | None = None
    dq_results: list[dict[str, Any]] = field(default_factory=list)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class ReportData:
    environment: str
    generated_at: datetime
    # country -> [(day, new cases 7-day avg, new deaths 7-day avg)], oldest first
    series: dict[str, list[tuple[date, float | None, float | None]]] = field(default_factory=dict)
    latest: list[dict[str, Any]] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)  # newest first
    storage_usd_per_month: float | None = None
    dq_threshold: float | None = None
    warehouse: str = ""
    warnings: list[str] = field(default_factory=list)


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


# --- rendering (pure) ------------------------------------------------------------------------------------------------


def _fmt_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _fmt_duration(seconds: int | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _chip(state: str) -> str:
    kind = {"SUCCEEDED": "ok", "FAILED": "bad", "TIMEOUT": "bad", "ERROR": "bad", "RUNNING": "warn", "STARTING": "warn"}
    return f'<span class="chip {kind.get(state, "na")}">{escape(state)}</span>'


def _kpis(data: ReportData) -> str:
    cards: list[tuple[str, str, str]] = []
    if data.latest:
        as_of = max((row["report_date"] for row in data.latest if row.get("report_date")), default=None)
        total_confirmed = sum(int(row.get("confirmed") or 0) for row in data.latest)
        total_deaths = sum(int(row.get("deaths") or 0) for row in data.latest)
        cards += [
            ("Countries", f"{len(data.latest):,}", f"latest data {as_of}" if as_of else ""),
            ("Confirmed cases", charts.compact_number(total_confirmed), f"{total_confirmed:,}"),
            ("Deaths", charts.compact_number(total_deaths), f"{total_deaths:,}"),
        ]
    succeeded = sum(1 for run in data.runs if run.state == "SUCCEEDED")
    failed = sum(1 for run in data.runs if run.state in {"FAILED", "TIMEOUT", "ERROR"})
    cards.append(("Job runs", f"{len(data.runs)}", f"{succeeded} succeeded, {failed} failed"))
    scored = [run for run in data.runs if run.dq_score is not None]
    if scored:
        cards.append(
            (
                "Latest DQ score",
                f"{scored[0].dq_score:.3f}",
                f"threshold {data.dq_threshold:g}" if data.dq_threshold else "",
            )
        )
    total_cost = sum(run.cost_usd for run in data.runs)
    storage = f"+ ${data.storage_usd_per_month:.4f}/month S3" if data.storage_usd_per_month is not None else ""
    cards.append(("Est. Glue cost", f"${total_cost:.2f}", storage))
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><div class="label">{escape(label)}</div><div class="value">{escape(value)}</div>'
            f'<div class="sub">{escape(sub)}</div></div>'
            for label, value, sub in cards
        )
        + "</div>"
    )


def _trend_section(data: ReportData) -> str:
    cases = {country: [(d, c) for d, c, _ in points] for country, points in data.series.items()}
    deaths = {country: [(d, x) for d, _, x in points] for country, points in data.series.items()}
    cases_chart = charts.line_chart(cases, chart_id="chart-cases", title="New cases (7-day avg)", y_label="cases/day")
    deaths_chart = charts.line_chart(
        deaths, chart_id="chart-deaths", title="New deaths (7-day avg)", y_label="deaths/day"
    )
    return (
        "<section><h2>New cases and deaths over time</h2>"
        f'<p class="note">7-day average of daily new figures, top {len(data.series)} countries by confirmed cases. '
        "Hover for values.</p>"
        f'<div class="grid2"><div class="chart-box">{cases_chart}</div>'
        f'<div class="chart-box">{deaths_chart}</div></div></section>'
    )


def _latest_section(data: ReportData, limit: int = 60) -> str:
    rows = data.latest[:limit]
    top_confirmed = max((int(r.get("confirmed") or 0) for r in rows), default=0)
    top_deaths = max((int(r.get("deaths") or 0) for r in rows), default=0)
    body = []
    for row in rows:
        confirmed, deaths_value = int(row.get("confirmed") or 0), int(row.get("deaths") or 0)
        cfr = row.get("case_fatality_rate")
        incidence = row.get("incidence_per_100k")
        body.append(
            "<tr>"
            f"<td>{escape(str(row.get('country')))}</td>"
            f"<td class='mono'>{escape(str(row.get('iso3') or ''))}</td>"
            f"<td>{escape(str(row.get('report_date') or ''))}</td>"
            f"<td class='num' data-sort='{confirmed}'>{confirmed:,} {charts.spark_bar(confirmed, top_confirmed)}</td>"
            f"<td class='num' data-sort='{deaths_value}'>{deaths_value:,} "
            f"{charts.spark_bar(deaths_value, top_deaths, charts.PALETTE[1])}</td>"
            f"<td class='num' data-sort='{row.get('new_confirmed') or 0}'>{_fmt_int(row.get('new_confirmed'))}</td>"
            f"<td class='num' data-sort='{row.get('new_deaths') or 0}'>{_fmt_int(row.get('new_deaths'))}</td>"
            f"<td class='num' data-sort='{cfr or 0}'>{'–' if cfr is None else f'{float(cfr) * 100:.2f}%'}</td>"
            f"<td class='num' data-sort='{incidence or 0}'>"
            f"{'–' if incidence is None else f'{float(incidence):,.0f}'}</td>"
            "</tr>"
        )
    headers = [
        ("Country", ""),
        ("ISO3", ""),
        ("As of", ""),
        ("Confirmed", "num"),
        ("Deaths", "num"),
        ("New cases", "num"),
        ("New deaths", "num"),
        ("CFR", "num"),
        ("Per 100k", "num"),
    ]
    head = "".join(f'<th class="sortable {cls}">{escape(h)}</th>' for h, cls in headers)
    shown = f"the {len(rows)} countries with most cases" if len(data.latest) > limit else f"{len(rows)} countries"
    empty = "" if rows else "<p class='note'>No warehouse data yet.</p>"
    return (
        "<section><h2>Latest figures per country</h2>"
        f'<p class="note">From the warehouse view v_latest_by_country: {shown}. Click a column to sort.</p>{empty}'
        f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
        "</table></div></section>"
    )


def _runs_oldest_first(data: ReportData, limit: int = 20) -> list[RunRow]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(data.runs[:limit], key=lambda run: run.started_on or epoch)


def _run_label(run: RunRow) -> str:
    return run.started_on.astimezone(UTC).strftime("%m-%d %H:%M") if run.started_on else run.run_id[:8]


def _dq_section(data: ReportData) -> str:
    from covid_pipeline.orchestrator import observed_text

    runs = [run for run in _runs_oldest_first(data) if run.dq_score is not None or run.dq_results]
    score_chart = charts.column_chart(
        [
            (
                _run_label(r),
                r.dq_score or 0.0,
                charts.PALETTE[3] if (r.dq_score or 0) >= (data.dq_threshold or 0) else charts.PALETTE[1],
            )
            for r in runs
        ],
        chart_id="chart-dq",
        title="Data quality score per run",
        y_max=1.0,
        value_format="{:.3f}",
        threshold=data.dq_threshold,
        threshold_label=f"alert below {data.dq_threshold:g}" if data.dq_threshold else "",
    )
    # Expectations x runs matrix (newest runs on the right, at most 8 runs).
    recent = runs[-6:]
    expectations: list[tuple[str, str]] = []
    for run in recent:
        for result in run.dq_results:
            key = (str(result.get("expectation", "?")), str(result.get("severity", "")))
            if key not in expectations:
                expectations.append(key)
    head = "<th>Expectation</th><th>Severity</th>" + "".join(
        f"<th class='run-col'>{'<br>'.join(escape(part) for part in _run_label(r).split(' '))}</th>" for r in recent
    )
    body = []
    for name, severity in expectations:
        cells = []
        for run in recent:
            match = next((r for r in run.dq_results if str(r.get("expectation")) == name), None)
            if match is None:
                cells.append("<td class='run-col'><span class='chip na'>–</span></td>")
            else:
                ok = bool(match.get("success"))
                title = escape(observed_text(match), quote=True)
                cells.append(
                    f"<td class='run-col' title='{title}'><span class='chip {'ok' if ok else 'bad'}'>"
                    f"{'pass' if ok else 'fail'}</span></td>"
                )
        body.append(f"<tr><td class='mono wrap'>{escape(name)}</td><td>{escape(severity)}</td>{''.join(cells)}</tr>")
    matrix = (
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        if body
        else "<p class='note'>No expectation results recorded yet.</p>"
    )
    return (
        "<section><h2>Data quality</h2>"
        '<p class="note">Great Expectations results from each run manifest; '
        "the score is the share of expectations met.</p>"
        f'<div class="grid-40-60"><div class="chart-box">{score_chart}</div><div>{matrix}</div></div></section>'
    )


def _row_accounting(run: RunRow | None) -> str:
    if run is None:
        return "<p class='note'>No successful run with a manifest yet.</p>"
    rows_in = run.rows_in or 0
    entries = [
        ("Rows read", run.rows_in, None),
        ("Rows written", run.rows_out, charts.PALETTE[3]),
        ("Rows quarantined", run.rows_quarantined, charts.PALETTE[2]),
        ("Exact duplicates dropped", run.rows_duplicate, charts.PALETTE[9]),
    ]
    body = "".join(
        f"<tr><td>{escape(label)}</td><td class='num'>{_fmt_int(value)}</td>"
        f"<td>{charts.spark_bar(value or 0, rows_in, color, width=160) if color else ''}</td></tr>"
        for label, value, color in entries
    )
    return (
        f"<p class='note'>Latest run {escape(run.run_id[:14])}… ({escape(run.source)}): every row read ends in exactly "
        "one place.</p>"
        f"<table><thead><tr><th>Row accounting</th><th class='num'>Rows</th><th>Share</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _quarantine_section(data: ReportData) -> str:
    totals: dict[str, int] = {}
    for run in data.runs:
        for reason, count in run.quarantine_reasons.items():
            totals[reason] = totals.get(reason, 0) + count
    items = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    chart = charts.hbar_chart(
        [(reason, float(count)) for reason, count in items],
        chart_id="chart-quarantine",
        title="Quarantined rows by reason (runs shown)",
        color=charts.PALETTE[2],
        empty_text="No rows quarantined in these runs",
    )
    rows_in = sum(run.rows_in or 0 for run in data.runs)
    quarantined = sum(run.rows_quarantined or 0 for run in data.runs)
    ratio = f"{quarantined / rows_in * 100:.2f}%" if rows_in else "–"
    latest = next((run for run in data.runs if run.rows_in is not None), None)
    return (
        "<section><h2>Quarantine</h2>"
        f'<p class="note">Rows the job set aside instead of loading, over the runs shown: {quarantined:,} of '
        f"{rows_in:,} rows read ({ratio}).</p>"
        f'<div class="grid2"><div class="chart-box">{chart}</div><div>{_row_accounting(latest)}</div></div></section>'
    )


def _started(run: RunRow) -> str:
    return run.started_on.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if run.started_on else "–"


def _runs_section(data: ReportData) -> str:
    runs = _runs_oldest_first(data)
    durations = charts.column_chart(
        [(_run_label(r), (r.duration_seconds or 0) / 60, charts.STATE_COLORS.get(r.state, "#9aa5b1")) for r in runs],
        chart_id="chart-durations",
        title="Run duration (minutes), colored by state",
        value_format="{:.1f} min",
    )
    costs = charts.column_chart(
        [(_run_label(r), r.cost_usd, charts.PALETTE[4]) for r in runs],
        chart_id="chart-costs",
        title="Estimated cost per run (USD)",
        value_format="${:.4f}",
    )
    body = "".join(
        "<tr>"
        f"<td class='mono' title='{escape(run.run_id)}'>{escape(run.run_id[:14])}…</td>"
        f"<td>{escape(run.source)}</td><td>{_chip(run.state)}</td>"
        f"<td class='nowrap'>{escape(_started(run))}</td>"
        f"<td class='num'>{_fmt_duration(run.duration_seconds)}</td>"
        f"<td class='num'>{_fmt_int(run.rows_in)}</td><td class='num'>{_fmt_int(run.rows_out)}</td>"
        f"<td class='num'>{_fmt_int(run.rows_quarantined)}</td>"
        f"<td class='num'>{'–' if run.dq_score is None else f'{run.dq_score:.3f}'}</td>"
        f"<td class='num'>${run.cost_usd:.4f}</td>"
        f"<td>{escape((run.error_message or '')[:80])}</td>"
        "</tr>"
        for run in data.runs
    )
    headers = [
        "Run",
        "Source",
        "State",
        "Started (UTC)",
        "Duration",
        "Rows in",
        "Rows out",
        "Quarantined",
        "DQ",
        "Est. cost",
        "Error",
    ]
    numeric = {"Duration", "Rows in", "Rows out", "Quarantined", "DQ", "Est. cost"}
    head = "".join(f"<th class='{'num' if h in numeric else ''}'>{escape(h)}</th>" for h in headers)
    return (
        "<section><h2>Job runs</h2>"
        '<p class="note">Durations from Glue (ExecutionTime); '
        "cost = DPU-hours × price per DPU-hour (covid_pipeline/costs.py).</p>"
        f'<div class="grid2"><div class="chart-box">{durations}</div><div class="chart-box">{costs}</div></div>'
        "<div class='scroll' style='margin-top:14px'>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        "</section>"
    )


def render_html(data: ReportData) -> str:
    warnings = (
        '<div class="warnings">' + "<br>".join(escape(w) for w in data.warnings) + "</div>" if data.warnings else ""
    )
    body = "\n".join(
        [
            _kpis(data),
            warnings,
            _trend_section(data),
            _latest_section(data),
            _dq_section(data),
            _quarantine_section(data),
            _runs_section(data),
        ]
    )
    generated = data.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return template.PAGE.format(
        title=escape(f"COVID-19 data pipeline — {data.environment}"),
        meta=escape(f"Generated {generated} · warehouse {data.warehouse or '–'}"),
        css=template.CSS,
        body=body,
        footer=escape("covid-pipeline report · self-contained: no external resources"),
        script=template.SCRIPT,
    )
