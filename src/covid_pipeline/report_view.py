"""The report's page from ReportData: what each section shows, rendered by the Jinja2 templates in report_templates/.

A pure function of ReportData (render_html), so its output is tested on hand-written data. The templates autoescape
every value; the only markup passed in as is are the SVG charts of report_charts, which escape their own text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from covid_pipeline import report_charts as charts
from covid_pipeline.common import ACTIVE_STATES, FAILED_STATES
from covid_pipeline.report_data import ReportData, RunRow

# From common's run-state sets, so the report calls failed what the CLI and the monitor call failed.
_CHIP_KINDS = {"SUCCEEDED": "ok"} | dict.fromkeys(FAILED_STATES, "bad") | dict.fromkeys(ACTIVE_STATES, "warn")
_LATEST_HEADERS = [("Country", ""), ("ISO3", ""), ("As of", ""), ("Confirmed", "num"), ("Deaths", "num"),
                   ("New cases", "num"), ("New deaths", "num"), ("CFR", "num"), ("Per 100k", "num")]  # fmt: skip
_RUN_HEADERS = [("Run", False), ("Source", False), ("State", False), ("Started (UTC)", False), ("Duration", True),
                ("Rows in", True), ("Rows out", True), ("Quarantined", True), ("DQ", True), ("Est. cost", True),
                ("Error", False)]  # fmt: skip


def _thousands(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _started(started_on: datetime | None) -> str:
    return started_on.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if started_on else "–"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("covid_pipeline", "report_templates"),
        autoescape=True,  # every template, including the .css and .js it includes (they hold no values)
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(
        thousands=_thousands, duration=_duration, started=_started, chip_kind=lambda state: _CHIP_KINDS.get(state, "na")
    )
    return environment


def _kpis(data: ReportData) -> list[dict[str, str]]:
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
    failed = sum(1 for run in data.runs if run.state in FAILED_STATES)
    cards.append(("Job runs", f"{len(data.runs)}", f"{succeeded} succeeded, {failed} failed"))
    scored = [run for run in data.runs if run.dq_score is not None]
    if scored:
        threshold = f"threshold {data.dq_threshold:g}" if data.dq_threshold else ""
        cards.append(("Latest DQ score", f"{scored[0].dq_score:.3f}", threshold))
    total_cost = sum(run.cost_usd for run in data.runs)
    storage = f"+ ${data.storage_usd_per_month:.4f}/month S3" if data.storage_usd_per_month is not None else ""
    cards.append(("Est. Glue cost", f"${total_cost:.2f}", storage))
    return [{"label": label, "value": value, "sub": sub} for label, value, sub in cards]


def _trend(data: ReportData) -> dict[str, Any]:
    cases = {country: [(d, c) for d, c, _ in points] for country, points in data.series.items()}
    deaths = {country: [(d, x) for d, _, x in points] for country, points in data.series.items()}
    return {
        "countries": len(data.series),
        "cases_chart": Markup(
            charts.line_chart(cases, chart_id="chart-cases", title="New cases (7-day avg)", y_label="cases/day")
        ),
        "deaths_chart": Markup(
            charts.line_chart(deaths, chart_id="chart-deaths", title="New deaths (7-day avg)", y_label="deaths/day")
        ),
    }


def _latest(data: ReportData, limit: int = 60) -> dict[str, Any]:
    rows = data.latest[:limit]
    top_confirmed = max((int(r.get("confirmed") or 0) for r in rows), default=0)
    top_deaths = max((int(r.get("deaths") or 0) for r in rows), default=0)
    shown = []
    for row in rows:
        confirmed, deaths = int(row.get("confirmed") or 0), int(row.get("deaths") or 0)
        cfr, incidence = row.get("case_fatality_rate"), row.get("incidence_per_100k")
        shown.append(
            {
                "country": str(row.get("country")),
                "iso3": str(row.get("iso3") or ""),
                "report_date": str(row.get("report_date") or ""),
                "confirmed": confirmed,
                "confirmed_bar": Markup(charts.spark_bar(confirmed, top_confirmed)),
                "deaths": deaths,
                "deaths_bar": Markup(charts.spark_bar(deaths, top_deaths, charts.PALETTE[1])),
                "new_confirmed": row.get("new_confirmed"),
                "new_deaths": row.get("new_deaths"),
                "cfr": None if cfr is None else float(cfr),
                "incidence": None if incidence is None else float(incidence),
            }
        )
    described = f"the {len(rows)} countries with most cases" if len(data.latest) > limit else f"{len(rows)} countries"
    return {"rows": shown, "headers": _LATEST_HEADERS, "shown": described}


def _runs_oldest_first(data: ReportData, limit: int = 20) -> list[RunRow]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(data.runs[:limit], key=lambda run: run.started_on or epoch)


def _run_label(run: RunRow) -> str:
    return run.started_on.astimezone(UTC).strftime("%m-%d %H:%M") if run.started_on else run.run_id[:8]


def _data_quality(data: ReportData) -> dict[str, Any]:
    from covid_pipeline.orchestrator import observed_text

    runs = [run for run in _runs_oldest_first(data) if run.dq_score is not None or run.dq_results]
    threshold = data.dq_threshold or 0
    score_chart = charts.column_chart(
        [(_run_label(r), r.dq_score or 0.0, charts.PALETTE[3 if (r.dq_score or 0) >= threshold else 1]) for r in runs],
        chart_id="chart-dq",
        title="Data quality score per run",
        y_max=1.0,
        value_format="{:.3f}",
        threshold=data.dq_threshold,
        threshold_label=f"alert below {data.dq_threshold:g}" if data.dq_threshold else "",
    )
    recent = runs[-6:]  # an expectations x runs matrix, newest runs on the right
    names: list[tuple[str, str]] = []
    for run in recent:
        for result in run.dq_results:
            key = (str(result.get("expectation", "?")), str(result.get("severity", "")))
            if key not in names:
                names.append(key)
    expectations = []
    for name, severity in names:
        cells = []
        for run in recent:
            match = next((r for r in run.dq_results if str(r.get("expectation")) == name), None)
            cells.append(
                None if match is None else {"ok": bool(match.get("success")), "observed": observed_text(match)}
            )
        expectations.append({"name": name, "severity": severity, "cells": cells})
    return {
        "score_chart": Markup(score_chart),
        "run_labels": [_run_label(run) for run in recent],
        "expectations": expectations,
    }


def _quarantine(data: ReportData) -> dict[str, Any]:
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
    latest = next((run for run in data.runs if run.rows_in is not None), None)
    accounting = []
    if latest is not None:
        entries = [
            ("Rows read", latest.rows_in, None),
            ("Rows written", latest.rows_out, charts.PALETTE[3]),
            ("Rows quarantined", latest.rows_quarantined, charts.PALETTE[2]),
            ("Exact duplicates dropped", latest.rows_duplicate, charts.PALETTE[9]),
        ]
        accounting = [
            {
                "label": label,
                "rows": rows,
                "bar": Markup(charts.spark_bar(rows or 0, latest.rows_in or 0, color, width=160) if color else ""),
            }
            for label, rows, color in entries
        ]
    return {
        "chart": Markup(chart),
        "rows_in": rows_in,
        "quarantined": quarantined,
        "ratio": f"{quarantined / rows_in * 100:.2f}%" if rows_in else "–",
        "latest": latest,
        "accounting": accounting,
    }


def _runs(data: ReportData) -> dict[str, Any]:
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
    return {
        "durations_chart": Markup(durations),
        "costs_chart": Markup(costs),
        "headers": _RUN_HEADERS,
        "rows": data.runs,
    }


def render_html(data: ReportData) -> str:
    generated = data.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        _environment()
        .get_template("page.html.j2")
        .render(
            title=f"COVID-19 data pipeline — {data.environment}",
            meta=f"Generated {generated} · warehouse {data.warehouse or '–'}",
            footer="covid-pipeline report · self-contained: no external resources",
            kpis=_kpis(data),
            warnings=data.warnings,
            trend=_trend(data),
            latest=_latest(data),
            dq=_data_quality(data),
            quarantine=_quarantine(data),
            runs=_runs(data),
        )
    )
