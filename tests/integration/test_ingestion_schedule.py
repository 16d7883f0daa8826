"""Ingestion end to end on the local cloud: the EventBridge schedule Terraform created fires the ingestion function,
which fetches from a real HTTP server on a loopback port (serving ../shared/data files and files this test makes,
never the internet) into the raw bucket; the uploads start the job like any upload; the output reaches the catalog
and the warehouse. Later ticks fetch nothing (conditional GETs, unpublished days); a changed OWID file arrives once;
each bad input is refused with its reason, and a source that stays down raises the alert a failed job raises.

The sources are pointed at the server the way an operator points them at another source: Terraform variables
(`ingestion_sources`, and `ingestion_schedule` = rate(1 minute) so that ticks come within the test), applied to the
running cloud with `terraform apply`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline.alerts_inbox import read_inbox
from covid_pipeline.config import PipelineConfig
from covid_pipeline.ingestion.state import IngestionState
from tests.source_server import Route, source_server

pytestmark = [pytest.mark.slow, pytest.mark.spark]

JHU_DAYS = ("01-22-2020", "01-23-2020", "01-24-2020")
OWID_ROWS = 400
# Bad inputs: URL path -> (route, the refusal reason expected).
BAD = {
    "/bad/html.csv": (Route(body=b"<!DOCTYPE html><html><body>Rate limited</body></html>"), "html_error_page"),
    "/bad/era.csv": (Route(body=b"Region,Cases,Whatever\nX,1,2\n"), "unknown_header"),
    "/bad/cut.csv.gz": (Route(body=gzip.compress(b"Province/State,Country/Region\n" * 99)[:-12]), "bad_gzip"),
    "/bad/records.json": (Route(body=b'{"records": [{"Country_Region": "X"}]}'), "not_a_list_of_records"),
    "/bad/moved.csv": (
        Route(status=301, headers={"Location": "http://127.0.0.1:9/elsewhere.csv"}),
        "insecure_redirect",
    ),
}
API_RECORDS = [
    {
        "Province_State": "",
        "Country_Region": "Andorra",
        "Last_Update": "2026-12-02 23:00:00",
        "Confirmed": 47890,
        "Deaths": 165,
    },
    {
        "Province_State": "",
        "Country_Region": "Iceland",
        "Last_Update": "2026-12-02 23:00:00",
        "Confirmed": 209000,
        "Deaths": 260,
    },
]


def owid_head(source: Path, rows: int) -> bytes:
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(rows + 1)]
    return gzip.compress("".join(lines).encode(), mtime=0)


def serve_folder(tmp_path: Path, shared_data: Path) -> Path:
    root = tmp_path / "served"
    (root / "jhu").mkdir(parents=True)
    for day in JHU_DAYS:
        (root / "jhu" / f"{day}.csv.gz").write_bytes(
            (shared_data / "jhu_csse/daily_reports" / f"{day}.csv.gz").read_bytes()
        )
    (root / "owid").mkdir()
    (root / "owid" / "owid-covid-data.csv.gz").write_bytes(
        owid_head(shared_data / "owid/owid-covid-data.asof-2020-08-14.csv.gz", OWID_ROWS)
    )
    (root / "api").mkdir()
    (root / "api" / "records.json").write_text(json.dumps(API_RECORDS))
    return root


def sources_for(url: str) -> dict[str, Any]:
    sources: dict[str, Any] = {
        "jhu_daily": {
            "kind": "daily_reports",
            "url": url + "/jhu/{date:%m-%d-%Y}.csv.gz",
            "job_source": "jhu_daily",
            "start_date": "2020-01-22",
            "max_days_per_run": 3,
        },
        "owid": {"kind": "whole_file", "url": url + "/owid/owid-covid-data.csv.gz", "job_source": "owid"},
        "api": {"kind": "json_records", "url": url + "/api/records.json", "job_source": "jhu_daily"},
        "down": {"kind": "whole_file", "url": url + "/down/owid.csv", "job_source": "owid"},
    }
    for path in BAD:
        kind = "json_records" if path.endswith(".json") else "whole_file"
        sources["bad_" + path.rsplit("/", 1)[-1].split(".")[0]] = {
            "kind": kind,
            "url": url + path,
            "job_source": "jhu_daily",
        }
    return sources


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def raw_keys(s3: Any, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def warehouse_rows(url: str, statement: str) -> list[tuple[Any, ...]]:
    import duckdb

    from covid_pipeline.warehouse.duckdb_target import duckdb_path

    connection = duckdb.connect(duckdb_path(url), read_only=True)
    try:
        return connection.execute(statement).fetchall()
    finally:
        connection.close()


def warehouse_dates(url: str) -> list[str]:
    statement = (
        "SELECT DISTINCT CAST(d.date AS VARCHAR) FROM fact_covid_daily JOIN dim_date d USING (date_key) ORDER BY 1"
    )
    return [str(row[0]) for row in warehouse_rows(url, statement)]


# What fact_owid_daily holds of a published OWID row, in this order.
OWID_COLUMNS = (
    "country",
    "report_date",
    "iso3",
    "population",
    "confirmed",
    "deaths",
    "new_confirmed",
    "new_deaths",
    "case_fatality_rate",
    "incidence_per_100k",
    "source_file",
    "schema_era",
)


def published_owid(s3: Any, bucket: str) -> list[tuple[Any, ...]]:
    """The job's OWID output, read straight from its Parquet files (the loader's code not involved)."""
    import io

    import pyarrow.parquet as pq

    rows: list[tuple[Any, ...]] = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix="owid/").get("Contents", []):
        if item["Key"].endswith(".parquet") and "/_" not in item["Key"]:
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            table = pq.read_table(io.BytesIO(body), columns=list(OWID_COLUMNS))
            rows += [tuple(record[name] for name in OWID_COLUMNS) for record in table.to_pylist()]
    return sorted(rows, key=repr)


def test_scheduled_ingestion_reaches_the_warehouse_then_fetches_nothing(
    tmp_path: Path,
    shared_data: Path,
    test_config: PipelineConfig,
    cloud_state_dir: Callable[[], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from covid_pipeline.cli import main
    from covid_pipeline.local.cloud import LocalCloud

    names = test_config.names
    root = serve_folder(tmp_path, shared_data)
    with source_server(root) as server, LocalCloud(test_config, state_dir=cloud_state_dir()) as cloud:
        for path, (route, _) in BAD.items():
            server.routes[path] = route
        server.routes["/down/owid.csv"] = Route(failures_first=10**6)
        assert cloud.infrastructure is not None
        # The job's enrichment lookup (the deploy uploads it from COVID_REFERENCE_CSV): the real one.
        bucket, _, key = test_config.reference_path.removeprefix("s3://").partition("/")
        lookup = (shared_data / "jhu_csse" / "UID_ISO_FIPS_LookUp_Table.csv").read_bytes()
        cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=lookup)
        started = time.monotonic()
        cloud.infrastructure.workspace().apply(
            None,
            "-var",
            "ingestion_schedule=rate(1 minute)",
            "-var",
            f"ingestion_sources={json.dumps(sources_for(server.url))}",
        )
        apply_seconds = time.monotonic() - started
        s3, glue, sqs = cloud.client("s3"), cloud.client("glue"), cloud.client("sqs")
        stack = test_config.stack
        state = IngestionState(s3, stack["buckets"]["processed"], stack["state_prefix"])

        # Tick 1 (the schedule's own, within about a minute): three JHU days, OWID, the API's records.
        first = wait_for("the first scheduled ingestion run", lambda: state.recent_runs(), timeout=180)[-1]
        assert first["counts"]["stored"] == 5, first
        assert raw_keys(s3, names.raw_bucket) == sorted(
            [f"raw/jhu_daily/year=2020/month=01/day={d[3:5]}/{d}.csv.gz" for d in JHU_DAYS]
            + [
                f"raw/owid/year={first['tick'][:4]}/month={first['tick'][5:7]}/day={first['tick'][8:10]}/owid-covid-data.csv.gz"
            ]
            + [
                f"raw/jhu_daily/year={first['tick'][:4]}/month={first['tick'][5:7]}/day={first['tick'][8:10]}/api-{first['tick'][:10]}.jsonl"
            ]
        )
        refused = {o["source"]: o["reason"] for o in first["outcomes"] if o["status"] == "refused"}
        assert refused == {"bad_" + p.rsplit("/", 1)[-1].split(".")[0]: reason for p, (_, reason) in BAD.items()}
        failed = [o for o in first["outcomes"] if o["status"] == "failed"]
        assert [o["source"] for o in failed] == ["down"] and "HTTP 503" in failed[0]["detail"]
        assert first["state"] == "FAILED"

        assert cloud.wait_idle(timeout=900)
        runs = glue.get_job_runs(JobName=names.glue_job)["JobRuns"]
        assert {run["Arguments"]["--source"] for run in runs} == {"jhu_daily", "owid"}
        assert {run["JobRunState"] for run in runs} == {"SUCCEEDED"}, [run.get("ErrorMessage") for run in runs]
        owid_parquet = [
            item["Key"]
            for item in s3.list_objects_v2(Bucket=names.processed_bucket, Prefix="owid/").get("Contents", [])
            if item["Key"].endswith(".parquet")
        ]
        assert owid_parquet, "the OWID file was not processed"

        # Later ticks: nothing new (OWID answers 304 to the remembered ETag, JHU's next day is not published).
        wait_for("a second tick", lambda: len(state.recent_runs()) >= 2, timeout=150)
        assert cloud.wait_idle(timeout=600)
        later = state.recent_runs()[:-1]
        assert later and all(run["counts"]["stored"] == 0 for run in later), later
        assert any(status == 304 and cond for path, cond, status in server.requests if path.startswith("/owid/"))
        assert any(path == "/jhu/01-25-2020.csv.gz" and status == 404 for path, _, status in server.requests)
        assert len(glue.get_job_runs(JobName=names.glue_job)["JobRuns"]) == len(runs)
        keys_before = raw_keys(s3, names.raw_bucket)

        # OWID publishes a change: the next tick stores it once, and the job processes it.
        owid_file = root / "owid" / "owid-covid-data.csv.gz"
        owid_file.write_bytes(owid_head(shared_data / "owid/owid-covid-data.asof-2020-08-14.csv.gz", OWID_ROWS + 100))
        seen = len(state.recent_runs())
        changed = wait_for(
            "the tick after the OWID change",
            lambda: next(
                (r for r in state.recent_runs()[: len(state.recent_runs()) - seen] if r["counts"]["stored"]), None
            ),
            timeout=150,
        )
        assert [o["source"] for o in changed["outcomes"] if o["status"] == "stored"] == ["owid"]
        assert cloud.wait_idle(timeout=900)
        owid_runs = [
            r for r in glue.get_job_runs(JobName=names.glue_job)["JobRuns"] if r["Arguments"]["--source"] == "owid"
        ]
        assert len(owid_runs) == 2 and {r["JobRunState"] for r in owid_runs} == {"SUCCEEDED"}
        assert len(raw_keys(s3, names.raw_bucket)) - len(keys_before) <= 1  # the same day's key, a new version
        owid_published = published_owid(s3, names.processed_bucket)

        # A failed fetch raised the alert a failed job raises (the alerts topic).
        inbox = read_inbox(sqs, str(names.alerts_inbox))
        assert any("ingestion run failed" in str(message["subject"]) for message in inbox), inbox

        # By hand, with the deployed function's configuration: a day already stored writes nothing.
        capsys.readouterr()
        assert main(["--env", "test", "ingest", "--source", "jhu_daily", "--date", "2020-01-22", "--json"]) == 0
        by_hand = json.loads(capsys.readouterr().out)
        assert [(o["status"], o["reason"]) for o in by_hand["outcomes"]] == [("unchanged", "same_content")]
        assert main(["--env", "test", "runs", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert by_hand["run_id"] in {r["run_id"] for r in listed if r.get("kind") == "ingestion"}
        assert main(["--env", "test", "status", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["latest_ingestion"]["run_id"] == by_hand["run_id"]

        loader = cloud.client("lambda").get_function_configuration(
            FunctionName=names.lambda_functions["warehouse-loader"]
        )
        warehouse_url = loader["Environment"]["Variables"]["WAREHOUSE_URL"]
        print(f"ingestion apply {apply_seconds:.1f} s")
    # The three JHU days (and the API's records, dated by the tick) are in the warehouse.
    dates = warehouse_dates(warehouse_url)
    assert {"2020-01-22", "2020-01-23", "2020-01-24"} <= set(dates), dates
    assert first["tick"][:10] in dates, dates
    # The OWID change reached the warehouse: fact_owid_daily equals the published Parquet, row for row, including
    # the rows only the changed file has (Algeria up to 2020-05-06, the 500th data line).
    owid_statement = (
        "SELECT f.country, d.date, f.iso3, f.population, f.confirmed, f.deaths, f.new_confirmed, f.new_deaths, "
        "f.case_fatality_rate, f.incidence_per_100k, f.source_file, f.schema_era "
        "FROM fact_owid_daily f JOIN dim_date d USING (date_key)"
    )
    assert sorted(warehouse_rows(warehouse_url, owid_statement), key=repr) == owid_published
    assert len(owid_published) > OWID_ROWS
    latest_algeria = (
        "SELECT max(d.date) FROM fact_owid_daily f JOIN dim_date d USING (date_key) WHERE country = 'Algeria'"
    )
    assert warehouse_rows(warehouse_url, latest_algeria) == [(dt.date(2020, 5, 6),)]
