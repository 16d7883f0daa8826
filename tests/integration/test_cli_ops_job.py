"""End to end through the CLI on the local cloud: run the REAL Glue job on tiny files (`covid-pipeline run`), read
its history, load the warehouse, write the report and render it in headless Chromium.

One real Glue run under local Spark takes minutes on a busy 2-core machine, so this module is `slow`
(`make test-slow`, run by .ci/run); tests/integration/test_report_render.py covers load/report/Chromium fast.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from covid_pipeline.cli import main
from covid_pipeline.common import split_s3_uri

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ENV = "test"
HOSTILE = "x'); DROP TABLE fact_covid_daily; --"
HEADER = (
    "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths,Recovered,Active,"
    "Combined_Key,Incident_Rate,Case_Fatality_Ratio"
)
LOOKUP = """UID,iso2,iso3,code3,FIPS,Admin2,Province_State,Country_Region,Lat,Long_,Combined_Key,Population
250,FR,FRA,250,,,,France,46.2276,2.2137,France,65273512
276,DE,DEU,276,,,,Germany,51.165691,10.451526,Germany,83783945
380,IT,ITA,380,,,,Italy,41.87194,12.56738,Italy,60461828
"""
FIRST_DAY = date(2021, 1, 1)
DAYS = 12
# cumulative confirmed on day 0 and the daily increase, per country
SERIES = {"France": (1000, 120), "Germany": (800, 90), "Italy": (500, 40), HOSTILE: (10, 1)}


def daily_file(day_index: int) -> str:
    day = FIRST_DAY + timedelta(days=day_index)
    lines = [HEADER]
    for country, (start, step) in SERIES.items():
        confirmed = start + step * day_index + (day_index % 3) * step // 2  # a little wobble in the daily counts
        deaths = confirmed // 50
        name = f'"{country}"' if "," in country else country
        lines.append(f",,,{name},{day.isoformat()} 23:59:00,45.0,5.0,{confirmed},{deaths},,,{name},,")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def cloud(test_config, cloud_state_dir, s3a_jars: list[Path]) -> Iterator[object]:
    # Lambdas off: uploads must not start runs by themselves; this module starts them with `covid-pipeline run`.
    from covid_pipeline.local.cloud import LocalCloud

    config = test_config
    with LocalCloud(test_config, state_dir=cloud_state_dir(), run_lambdas=False) as running:
        s3 = running.client("s3")
        bucket, key = split_s3_uri(config.reference_path)
        s3.put_object(Bucket=bucket, Key=key, Body=LOOKUP.encode())
        raw_bucket, raw_prefix = split_s3_uri(config.raw_path("jhu_daily"))
        for index in range(DAYS):
            name = (FIRST_DAY + timedelta(days=index)).strftime("%m-%d-%Y.csv")
            s3.put_object(Bucket=raw_bucket, Key=f"{raw_prefix}{name}", Body=daily_file(index).encode())
        yield running


@pytest.fixture(scope="module")
def pipeline_output(cloud, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run -> load -> report through the CLI, once for the module."""
    work = tmp_path_factory.mktemp("report")
    warehouse = f"duckdb:///{work / 'warehouse.duckdb'}"
    run_code = main(["--env", ENV, "run", "--poll", "0.5", "--quiet"])
    load_code = main(["--env", ENV, "load", "--warehouse", warehouse, "--json"])
    report_path = work / "report.html"
    report_code = main(["--env", ENV, "report", "--warehouse", warehouse, "--out", str(report_path)])
    return {
        "codes": (run_code, load_code, report_code),
        "warehouse": warehouse,
        "report": report_path,
        "work": work,
    }


def test_run_load_report_succeed(pipeline_output):
    assert pipeline_output["codes"] == (0, 0, 0)


def test_runs_show_rows_and_dq_of_the_successful_run(pipeline_output, capsys):
    capsys.readouterr()
    assert main(["--env", ENV, "runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    latest = runs[0]
    assert latest["state"] == "SUCCEEDED"
    assert latest["rows_in"] == DAYS * len(SERIES)
    assert latest["rows_out"] + latest["rows_quarantined"] + latest["rows_duplicate"] == latest["rows_in"]
    assert latest["dq_score"] is not None
    assert latest["estimated_cost_usd"] > 0


def test_load_is_idempotent(pipeline_output, capsys):
    capsys.readouterr()
    assert main(["--env", ENV, "load", "--warehouse", str(pipeline_output["warehouse"]), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["partitions_loaded"] == [] and again["rows_loaded"] == 0
    assert again["partitions_skipped"] == ["year=2021/month=1"]


def test_hostile_country_name_is_data_in_the_warehouse_and_text_in_the_report(pipeline_output):
    import duckdb

    path = str(pipeline_output["warehouse"])[len("duckdb://") :]
    with duckdb.connect(path, read_only=True) as connection:
        countries = {row[0] for row in connection.execute("SELECT country FROM v_latest_by_country").fetchall()}
    assert {"France", "Germany", "Italy"} <= countries
    html = Path(pipeline_output["report"]).read_text()
    if HOSTILE in countries:
        assert "x&#x27;); DROP TABLE fact_covid_daily; --" in html


def test_report_contains_the_warehouse_figures(pipeline_output):
    html = Path(pipeline_output["report"]).read_text()
    france_final = SERIES["France"][0] + SERIES["France"][1] * (DAYS - 1) + ((DAYS - 1) % 3) * SERIES["France"][1] // 2
    assert f"{france_final:,}" in html
    assert "no warehouse" not in html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(args: list[str], work: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={work / 'chromium-profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(pipeline_output):
    work = Path(pipeline_output["work"])
    url = Path(pipeline_output["report"]).resolve().as_uri()
    dom = chromium(["--virtual-time-budget=5000", "--dump-dom", url], work)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, "no <body> in the dumped DOM"
    attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    assert attributes.get("report-ready") == "1", "the report's script did not finish"
    assert int(attributes["interactive-charts"]) == 2  # cases and deaths line charts wired for hover
    assert int(attributes["charts-drawn"]) >= 4 + 3  # 4 country lines x 2 charts at least, plus bars
    paths = re.findall(r'<path class="series" d="([^"]*)"', dom.stdout)
    assert paths and all(re.fullmatch(r"M[\d.]+,[\d.]+( [ML][\d.]+,[\d.]+)+", d) for d in paths[:3])

    shot = work / "report.png"
    result = chromium([f"--screenshot={shot}", "--window-size=1400,2000", url], work)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a page of charts and tables, not a blank canvas
