"""`covid-pipeline load` and `covid-pipeline report` on the local cloud, then the page in headless Chromium.

The job's output is hand-written Parquet in the processed bucket (the real job's run is covered by the slow
test_cli_ops_job.py); the warehouse is the real DuckDB loader; the report is opened by a real browser, which
must run its script and draw every chart.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from covid_pipeline.cli import main
from covid_pipeline.common import split_s3_uri
from covid_pipeline.config import load_config
from covid_pipeline.warehouse.schema import JOB_OUTPUT_COLUMNS

ENV = "test"
HOSTILE = "x'); DROP TABLE fact_covid_daily; --"
FIRST_DAY = date(2021, 1, 1)
DAYS = 20
# country -> (iso3, population, new cases per day on day 0, daily growth)
COUNTRIES = {
    "Freedonia": ("FRE", 5_000_000, 100, 10),
    "Sylvania": ("SYL", 2_000_000, 50, 5),
    HOSTILE: (None, None, 1, 0),
}


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


def job_output_rows() -> list[dict]:
    rows = []
    for country, (iso3, population, first_new, growth) in COUNTRIES.items():
        confirmed = deaths = 0
        for index in range(DAYS):
            day = FIRST_DAY + timedelta(days=index)
            new_confirmed = first_new + growth * index
            new_deaths = new_confirmed // 20
            confirmed += new_confirmed
            deaths += new_deaths
            rows.append(
                {
                    "report_date": day,
                    "country": country,
                    "iso3": iso3,
                    "province": None,
                    "admin2": None,
                    "fips": None,
                    "latitude": 1.0,
                    "longitude": 2.0,
                    "population": population,
                    "confirmed": confirmed,
                    "deaths": deaths,
                    "recovered": None,
                    "active": None,
                    "new_confirmed": new_confirmed,
                    "new_deaths": new_deaths,
                    "case_fatality_rate": deaths / confirmed,
                    "incidence_per_100k": confirmed * 100000 / population if population else None,
                    "last_update": datetime(day.year, day.month, day.day, 23, 0, tzinfo=UTC),
                    "source_file": day.strftime("%m-%d-%Y.csv"),
                    "schema_era": "v3",
                    "year": day.year,
                    "month": day.month,
                }
            )
    return rows


def final_confirmed(country: str) -> int:
    _, _, first_new, growth = COUNTRIES[country]
    return sum(first_new + growth * index for index in range(DAYS))


@pytest.fixture(scope="module")
def cloud(test_config, cloud_state_dir) -> Iterator[object]:
    from covid_pipeline.local.cloud import LocalCloud

    config = test_config
    with LocalCloud(test_config, state_dir=cloud_state_dir(), run_lambdas=False) as running:
        s3 = running.client("s3")
        schema = pa.schema(list(JOB_OUTPUT_COLUMNS.items()))
        table = pa.Table.from_pylist(job_output_rows(), schema=schema).drop_columns(["year", "month"])
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        bucket, prefix = split_s3_uri(config.output_path("jhu_daily"))
        s3.put_object(Bucket=bucket, Key=f"{prefix}year=2021/month=1/part-00000.parquet", Body=buffer.getvalue())
        yield running


@pytest.fixture(scope="module")
def run_with_manifest(cloud) -> str:
    """A finished (failed: the script is not deployed) run, with the manifest a run writes."""
    config = load_config(ENV)
    s3 = cloud.client("s3")
    script_bucket, script_key = split_s3_uri(config.script_location)
    s3.delete_object(Bucket=script_bucket, Key=script_key)
    glue = cloud.client("glue")
    run_id = glue.start_job_run(JobName=config.names.glue_job, Arguments={"--source": "jhu_daily"})["JobRunId"]
    deadline = time.monotonic() + 120
    while glue.get_job_run(JobName=config.names.glue_job, RunId=run_id)["JobRun"]["JobRunState"] != "FAILED":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    manifest = {
        "run_id": run_id,
        "rows_in": 64,
        "rows_out": 60,
        "rows_quarantined": 3,
        "rows_duplicate": 1,
        "data_quality": {
            "score": 0.75,
            "results": [
                {"expectation": "country_not_null", "severity": "critical", "success": True, "observed": 0},
                {"expectation": "confirmed_non_negative", "severity": "critical", "success": False, "observed": 2},
            ],
        },
        "quarantine_reasons": {"missing_country": 2, "negative_count": 1},
    }
    bucket, prefix = split_s3_uri(config.state_path("jhu_daily"))
    s3.put_object(Bucket=bucket, Key=f"{prefix}runs/{run_id}.json", Body=json.dumps(manifest).encode())
    return run_id


@pytest.fixture(scope="module")
def report(cloud, run_with_manifest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("report")
    warehouse = f"duckdb:///{work / 'warehouse.duckdb'}"
    load_code = main(["--env", ENV, "load", "--warehouse", warehouse])
    report_path = work / "report.html"
    report_args = ["report", "--warehouse", warehouse, "--out", str(report_path), "--top", "3"]
    if CHROMIUM:
        report_args += ["--screenshot", str(work / "report.png")]
    report_code = main(["--env", ENV, *report_args])
    return {"codes": (load_code, report_code), "warehouse": warehouse, "path": report_path, "work": work}


def test_load_then_report_succeed(report):
    assert report["codes"] == (0, 0)


def test_load_again_changes_nothing(report, capsys):
    capsys.readouterr()
    assert main(["--env", ENV, "load", "--warehouse", str(report["warehouse"]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["partitions_loaded"], result["partitions_skipped"], result["rows_loaded"]) == (
        [],
        ["year=2021/month=1"],
        0,
    )


def test_unreachable_warehouse_is_a_one_line_error(cloud, capsys):
    capsys.readouterr()
    code = main(["--env", ENV, "load", "--warehouse", "postgresql://nobody@127.0.0.1:1/covid"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_report_has_exact_figures_from_the_warehouse(report):
    html = Path(report["path"]).read_text()
    assert f"{final_confirmed('Freedonia'):,}" in html
    assert f"{final_confirmed('Sylvania'):,}" in html
    assert "x&#x27;); DROP TABLE fact_covid_daily; --" in html  # loaded as a plain string, shown as text
    assert "confirmed_non_negative" in html and 'data-label="missing_country" data-value="2.0"' in html


def test_report_is_self_contained(report):
    html = Path(report["path"]).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)


def chromium(args: list[str], work: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={work / 'chromium-profile'}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
def test_report_draws_in_headless_chromium(report):
    work = Path(report["work"])
    url = Path(report["path"]).resolve().as_uri()
    dom = chromium(["--virtual-time-budget=5000", "--dump-dom", url], work)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, "no <body> in the dumped DOM"
    attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    assert attributes.get("report-ready") == "1", "the report's script did not run to the end"
    assert attributes["interactive-charts"] == "2"  # the cases and deaths charts are wired for hover
    # 3 countries x 2 line charts + 2 quarantine bars + 1 DQ bar + 1 duration bar + 1 cost bar
    assert attributes["charts-drawn"] == "11"
    paths = re.findall(r'<path class="series" d="([^"]*)"', dom.stdout)
    assert len(paths) == 6
    # one point per day (M then L x (DAYS - 1)) in every line
    assert all(re.fullmatch(r"M[\d.]+,[\d.]+(?: L[\d.]+,[\d.]+){" + str(DAYS - 1) + "}", d) for d in paths)

    shot = work / "report.png"  # written by `report --screenshot`
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # charts and tables, not a blank page
