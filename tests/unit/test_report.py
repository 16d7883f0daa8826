"""The HTML report rendered from hand-written data: content, escaping, self-containment, chart geometry."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from covid_pipeline.report import ReportData, RunRow, render_html
from covid_pipeline.report_charts import compact_number, hbar_chart, line_chart, nice_ticks

HOSTILE = "x'); DROP TABLE fact_covid_daily; --<script>alert(1)</script>"


def sample_data() -> ReportData:
    days = [date(2021, 1, d) for d in (1, 2, 3)]
    return ReportData(
        environment="test",
        generated_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        series={
            "Freedonia": [(days[0], 10.0, 1.0), (days[1], 20.0, 2.0), (days[2], 40.0, None)],
            HOSTILE: [(days[0], 5.0, 0.5), (days[1], None, 0.5), (days[2], 5.0, 0.5)],
        },
        latest=[
            {
                "country": "Freedonia",
                "iso3": "FRE",
                "report_date": days[2],
                "confirmed": 1200,
                "deaths": 30,
                "new_confirmed": 40,
                "new_deaths": 1,
                "case_fatality_rate": 0.025,
                "incidence_per_100k": 12.5,
            },
            {
                "country": HOSTILE,
                "iso3": None,
                "report_date": days[2],
                "confirmed": 100,
                "deaths": 2,
                "new_confirmed": 5,
                "new_deaths": 0,
                "case_fatality_rate": 0.02,
                "incidence_per_100k": None,
            },
        ],
        runs=[
            RunRow("jr_new", "FAILED", datetime(2026, 3, 1, 9, tzinfo=UTC), 90, error_message="boom <b>"),
            RunRow(
                "jr_old",
                "SUCCEEDED",
                datetime(2026, 2, 28, 9, tzinfo=UTC),
                600,
                rows_in=1000,
                rows_out=980,
                rows_quarantined=15,
                rows_duplicate=5,
                dq_score=0.875,
                cost_usd=0.1467,
                dq_results=[
                    {"expectation": "country_not_null", "severity": "critical", "success": True, "observed": 0},
                    {"expectation": "confirmed_non_negative", "severity": "critical", "success": False, "observed": 3},
                ],
                quarantine_reasons={"missing_country": 10, "negative_counts": 5},
            ),
        ],
        storage_usd_per_month=0.0023,
        dq_threshold=0.9,
        warehouse="duckdb:///tmp/w.duckdb",
    )


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(sample_data())


def test_data_from_the_warehouse_is_escaped(html):
    assert "<script>alert(1)</script>" not in html
    assert "DROP TABLE fact_covid_daily; --&lt;script&gt;" in html
    assert "boom &lt;b&gt;" in html


def test_page_is_self_contained(html):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html


def test_kpis_show_exact_totals(html):
    assert "1,300" in html  # confirmed 1200 + 100
    assert "1 succeeded, 1 failed" in html
    assert "0.875" in html
    assert "$0.15" in html  # Glue cost card


def test_line_chart_has_one_path_per_country_with_a_gap_for_missing_values(html):
    paths = re.findall(r'<path class="series" d="([^"]*)"', html)
    assert len(paths) == 4  # two countries x (cases, deaths)
    assert all(d.startswith("M") for d in paths)
    hostile_cases = paths[1]
    assert hostile_cases.count("M") == 2  # pen lifted at the missing day


def test_quarantine_reasons_and_dq_results_are_listed(html):
    assert 'data-label="missing_country" data-value="10.0"' in html
    assert "confirmed_non_negative" in html and "chip bad" in html
    assert "15 of 1,000 rows read (1.50%)" in html


def test_empty_data_renders_with_placeholders():
    page = render_html(
        ReportData(environment="dev", generated_at=datetime(2026, 1, 1, tzinfo=UTC), warnings=["no warehouse"])
    )
    assert "No data yet" in page and "no warehouse" in page and "No runs yet" in page


def test_a_value_between_gaps_is_drawn_as_a_dot():
    days = [date(2021, 1, d) for d in (1, 2, 3, 4, 5)]
    svg = line_chart(
        {"A": [(days[0], 0.0), (days[1], None), (days[2], 50.0), (days[3], 100.0), (days[4], None)]},
        chart_id="c",
        title="t",
        width=200,
        height=134,
    )
    # x 58..184 over the days with values (1 to 4, 42 a day), y 34..82 for 0..100: day 1 stands alone, days 3 and 4
    # make a line
    assert 'd="M58.0,82.0 M142.0,58.0 L184.0,34.0"' in svg
    assert re.findall(r'<circle class="series-dot" cx="([\d.]+)" cy="([\d.]+)"', svg) == [("58.0", "82.0")]


def test_line_chart_geometry_is_exact():
    svg = line_chart(
        {"A": [(date(2021, 1, 1), 0.0), (date(2021, 1, 3), 100.0)]}, chart_id="c", title="t", width=200, height=134
    )
    # plot area: x 58..184 (width 126), y 34..82 (height 48); y axis 0..100
    assert 'd="M58.0,82.0 L184.0,34.0"' in svg


def test_hbar_chart_scales_to_largest_value():
    svg = hbar_chart([("a", 10.0), ("b", 5.0)], chart_id="h", title="t", width=640)
    widths = [float(w) for w in re.findall(r'class="bar" x="230" y="\d+" width="([\d.]+)"', svg)]
    assert widths == [320.0, 160.0]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0, 100, [0, 20, 40, 60, 80, 100]), (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]), (0, 7, [0, 2, 4, 6, 8])],
)
def test_nice_ticks(low, high, expected):
    assert nice_ticks(low, high) == pytest.approx(expected)


@pytest.mark.parametrize(("value", "text"), [(950, "950"), (1500, "1.5k"), (2_000_000, "2M"), (0.25, "0.25")])
def test_compact_number(value, text):
    assert compact_number(value) == text


def test_templates_escape_every_value_they_are_given():
    page = render_html(
        ReportData(
            environment="<b>dev</b>",
            generated_at=datetime(2026, 1, 1, tzinfo=UTC),
            warehouse="duckdb:///w.duckdb?<x>",
            warnings=["<img src=x onerror=alert(1)>", "second"],
        )
    )
    assert "<b>dev</b>" not in page and "&lt;b&gt;dev&lt;/b&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;<br>second" in page
    assert "duckdb:///w.duckdb?&lt;x&gt;" in page


def test_a_stopped_run_counts_as_failed_as_the_cli_counts_it():
    data = sample_data()
    data.runs.append(RunRow("jr_stopped", "STOPPED", datetime(2026, 3, 1, 10, tzinfo=UTC), 30))
    page = render_html(data)
    assert "1 succeeded, 2 failed" in page
    assert '<span class="chip bad">STOPPED</span>' in page
