"""The benchmark harness on tiny generated input, so `make bench` cannot rot between benchmark runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import harness, run_all
from bench.query_bench import read_queries


def test_query_file_parses_into_titled_statements() -> None:
    queries = read_queries()
    assert len(queries) >= 3
    assert all(sql.upper().startswith(("SELECT", "WITH")) for _, sql in queries)
    assert any("one month" in title.lower() for title, _ in queries)


def test_readme_table_is_replaced_between_the_markers(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{harness.README_START}\nold\n{harness.README_END}\nafter\n")
    assert harness.update_readme("| new |\n", readme)
    assert readme.read_text() == f"intro\n{harness.README_START}\n| new |\n{harness.README_END}\nafter\n"
    unmarked = tmp_path / "unmarked.md"
    unmarked.write_text("no markers\n")
    assert not harness.update_readme("| new |\n", unmarked)
    assert unmarked.read_text() == "no markers\n"


def test_a_partial_run_keeps_the_earlier_rows_it_did_not_measure_marked_with_their_date() -> None:
    old = harness.Result(benchmark="job", metric="wall time", value=100.0, unit="s", notes="rows 10")
    replaced = harness.Result(benchmark="e2e", metric="wall time", value=50.0, unit="s")
    previous = {"measured_at": "2026-01-01T00:00:00Z", "results": [vars(old), vars(replaced)]}
    new = harness.Result(benchmark="e2e", metric="wall time", value=30.0, unit="s")

    merged = harness.merge_previous([new], previous)

    assert [(r.benchmark, r.value) for r in merged] == [("job", 100.0), ("e2e", 30.0)]
    assert merged[0].notes == "rows 10; measured 2026-01-01T00:00:00Z"
    # Kept again by a later partial run: still dated by when it was measured.
    again = harness.merge_previous([new], {"measured_at": "2026-02-01T00:00:00Z", "results": [vars(merged[0])]})
    assert again[0].notes == "rows 10; measured 2026-01-01T00:00:00Z"


def test_replicas_are_distinct_files_to_the_job(tmp_path: Path) -> None:
    """Each replica must resolve to its own path: the job keys rows by resolved path, as Spark reports it."""
    from bench import datasets

    source = tmp_path / "source"
    source.mkdir()
    (source / "01-22-2020.csv").write_text("Province/State,Country/Region\n,China\n")
    made = datasets.link_files([source / "01-22-2020.csv"], tmp_path / "x", year_shift=4)
    made += datasets.link_files([source / "01-22-2020.csv"], tmp_path / "x", year_shift=8)
    assert [p.name for p in made] == ["01-22-2024.csv", "01-22-2028.csv"]
    assert not any(p.is_symlink() for p in made)
    assert len({p.resolve() for p in made}) == 2
    assert made[0].read_text() == (source / "01-22-2020.csv").read_text()


def test_process_tree_peak_memory_is_measured() -> None:
    seconds, peak = harness.run_command(["python3", "-c", "x = bytearray(150_000_000); import time; time.sleep(0.4)"])
    assert seconds > 0.3
    assert peak > 150_000_000


def test_a_failed_command_reports_its_error_above_spark_s_shutdown_noise(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "print('Traceback (most recent call last):', file=sys.stderr)\n"
        "print('ValueError: the real reason', file=sys.stderr)\n"
        "for i in range(5000):\n"
        "    print(f'26/11/27 06:05:07 WARN BlockManager: Block rdd_35_{i} could not be removed', file=sys.stderr)\n"
        "sys.exit(1)\n"
    )
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(RuntimeError) as failure:
        harness.run_command(["python3", "-c", script], log_path=log)
    tail = str(failure.value).rsplit(f"{log}):\n", 1)[1]
    assert tail.splitlines() == ["Traceback (most recent call last):", "ValueError: the real reason"]
    assert str(log) in str(failure.value)
    assert log.read_text().count("BlockManager") == 5000  # the full output is kept


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
