"""`make bench --smoke` end to end on tiny generated input: the job under Spark against DuckDB, its floor and the
queries, and the warm workers of the local Glue executor (the harness's own parts: tests/unit/test_bench_smoke.py).
Both are slow (Spark processes, a minute or more each)."""

from __future__ import annotations

import json
import re

import pytest

from bench import harness, run_all


@pytest.mark.spark
@pytest.mark.slow
def test_smoke_run_measures_the_job_against_duckdb_and_the_queries() -> None:
    assert run_all.main(["--smoke", "--only", "job,queries"]) == 0
    payload = json.loads((harness.RESULTS_DIR / "smoke.json").read_text())
    by_name = {(row["benchmark"], row["metric"]): row for row in payload["results"]}
    job_time = next(
        row for (name, metric), row in by_name.items() if name.startswith("job, full") and metric == "wall time"
    )
    assert job_time["baseline_value"] > 0 and job_time["ratio"] == pytest.approx(
        job_time["value"] / job_time["baseline_value"]
    )
    assert "rows in" in job_time["notes"]
    floor = next(row for (name, _), row in by_name.items() if name.startswith("Spark alone: read the files"))
    assert job_time["baseline_value"] == floor["value"] > 0  # the job against Spark's floor of the same run
    assert f"job / floor = {job_time['value'] / floor['value']:.2f}" in floor["notes"]
    against_duckdb = next(row for (name, _), row in by_name.items() if name.endswith("against DuckDB"))
    assert against_duckdb["value"] == job_time["value"]
    assert against_duckdb["baseline_value"] == floor["baseline_value"] > 0  # DuckDB, the outside anchor
    # The profile of the full refresh: its phases beside the Spark work each started.
    (profile,) = payload["sections"]
    assert "| read_and_classify |" in profile and "| data_quality |" in profile
    assert profile in (harness.RESULTS_DIR / "smoke.md").read_text()
    pruning = next(row for (name, _), row in by_name.items() if name.startswith("Parquet scan"))
    assert pruning["met"] is True  # a one-month query reads fewer files than the whole table
    assert payload["machine"]["cores"] >= 1


@pytest.mark.spark
@pytest.mark.slow
def test_smoke_run_measures_the_job_in_warm_workers_of_the_local_glue_executor() -> None:
    assert run_all.main(["--smoke", "--only", "job,warm"]) == 0
    rows = json.loads((harness.RESULTS_DIR / "smoke.json").read_text())["results"]
    cold = next(row for row in rows if row["benchmark"].startswith("job, full refresh (") and row["unit"] == "s")
    warm = next(row for row in rows if row["benchmark"].startswith("job, full refresh, warm worker"))
    assert f"fresh process: {cold['value']:.1f} s" in warm["notes"]
    increments = [row for row in rows if row["benchmark"].startswith("job, one new day on the full history, ")]
    assert len(increments) == 2
    for row in increments:
        assert row["baseline_value"] == warm["value"] and row["value"] > 0
        assert row["ratio"] == pytest.approx(row["value"] / warm["value"])
    # The increment was carried forward: the job read the month back instead of its raw files.
    carried = re.fullmatch(r"rewrote year=2021/month=5, ([\d,]+) rows carried", increments[0]["notes"])
    assert carried and int(carried.group(1).replace(",", "")) > 0
    floors = {
        row["benchmark"].split(", no transform")[0]: row for row in rows if "fresh warm worker" in row["benchmark"]
    }
    all_files = floors["Spark alone: read the files, write Parquet"]
    assert all_files["value"] > 0 and warm["baseline_value"] == all_files["value"]  # the warm floor of this run
    assert f"job / floor = {warm['value'] / all_files['value']:.2f}" in all_files["notes"]
    one_day = floors["Spark alone: read the new day's file, write Parquet"]
    assert one_day["baseline_value"] == warm["value"] and one_day["value"] > 0
