"""The whole job on local folders: reconciliation, exact rows, incremental == full refresh, re-runs, the gate."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import covid_transform as job
import data_quality_checks
import pytest

pytestmark = pytest.mark.spark

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jhu"
LOOKUP = FIXTURES / "UID_lookup_small.csv"
GOOD = [
    "01-22-2020.csv",
    "01-23-2020.csv",
    "03-01-2020.csv",
    "03-22-2020.csv",
    "05-29-2020.csv",
    "11-09-2020.csv",
    "11-10-2020.csv",
    "11-11-2020.csv",
    "11-12-2020.csv",
    "11-13-2020.csv",
    "11-14-2020.csv",
]
BAD = {"11-15-2020.csv": "binary_content", "11-16-2020.csv": "no_data_rows", "11-17-2020.csv": "invalid_encoding",
       "11-18-2020.csv": "missing_required_column", "daily_notes.csv": "no_date_in_name"}  # fmt: skip


def stage(folder: Path, names: list[str], gzipped: tuple[str, ...] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        data = (FIXTURES / name).read_bytes()
        if name in gzipped:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name).write_bytes(data)


def options(root: Path, output: str = "out", full_refresh: bool = False, run_id: str | None = None) -> job.JobOptions:
    return job.JobOptions(
        job_name="test-job",
        source="jhu_daily",
        input_path=str(root / "in"),
        output_path=str(root / output),
        quarantine_path=str(root / "quarantine"),
        state_path=str(root / f"state-{output}"),
        reference_path=str(LOOKUP),
        full_refresh=full_refresh,
        run_id=run_id,
    )


def output_rows(spark, path: Path) -> list[tuple]:
    df = spark.read.parquet(str(path))
    return sorted(tuple(r) for r in df.drop("extra_fields").collect())


def test_full_run_reconciles_and_gives_exact_rows(spark, tmp_path: Path) -> None:
    stage(tmp_path / "in", GOOD + list(BAD), gzipped=("11-10-2020.csv", "03-22-2020.csv"))
    (tmp_path / "in" / "README.md").write_text("not data")
    manifest = job.run_job(spark, options(tmp_path, run_id="run-1"))

    assert manifest["status"] == "succeeded"
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_quarantined"], manifest["rows_duplicate"]) == (
        32, 24, 7, 1,
    )  # fmt: skip
    assert manifest["quarantine_reasons"] == {
        "bad_last_update": 1, "invalid_coordinates": 1, "malformed_row": 1, "missing_country": 1, "negative_count": 1,
        "non_integer_count": 1, "unparseable_number": 1,
    }  # fmt: skip
    assert (manifest["files_processed"], manifest["files_quarantined"], manifest["files_skipped"]) == (11, 5, 1)
    assert manifest["quarantined_files"] == BAD
    # The partitions moved into place from the run's staging folder, which is gone.
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"year=2020"}
    assert manifest["partitions_written"] == ["year=2020/month=1", "year=2020/month=3", "year=2020/month=5",
                                              "year=2020/month=11"]  # fmt: skip
    assert manifest["new_columns"] == ["people_tested"]
    # Every check judged the values it was meant to: the newest date as a date, the output's row count.
    results = {r["expectation"]: r for r in manifest["data_quality"]["results"]}
    assert manifest["data_quality"]["score"] == 1.0 and [r for r in results.values() if "error" in r] == []
    assert str(results["freshness: newest report_date"]["observed_value"]) == "2020-11-14"
    assert results["volume: at least one row"]["observed_value"] == 24
    phases = manifest["phase_seconds"]
    assert list(phases) == [
        "list_inputs", "sniff_files", "read_and_classify", "plan_and_count", "transform_and_count",
        "data_quality", "publish", "ledger_and_catalog",
    ]  # fmt: skip
    assert all(seconds >= 0 for seconds in phases.values())
    assert sum(phases.values()) <= manifest["duration_seconds"]
    saved = json.loads((tmp_path / "state-out" / "runs" / "run-1.json").read_text())
    assert saved == json.loads((tmp_path / "state-out" / "latest.json").read_text())
    assert saved["rows_out"] == 24

    for partition in (tmp_path / "out").glob("year=*/month=*"):
        assert len(list(partition.glob("*.parquet"))) == 1, partition  # one file per partition
    df = spark.read.parquet(str(tmp_path / "out"))
    assert df.columns == [*job.tx.OUTPUT_COLUMNS[:-2], "year", "month"]
    rows = {(r.report_date, r.country, r.province, r.admin2): r for r in df.collect()}
    anhui = rows[(date(2020, 1, 23), "China", "Anhui", None)]
    assert (anhui.confirmed, anhui.new_confirmed, anhui.iso3, anhui.population, anhui.schema_era) == (
        9, 8, "CHN", 63240000, "jhu_v1",
    )  # fmt: skip
    assert anhui.last_update == datetime(2020, 1, 23, 17, 0)
    japan = rows[(date(2020, 1, 23), "Japan", None, None)]
    assert (japan.confirmed, japan.new_confirmed, japan.iso3) == (1, -1, "JPN")
    assert rows[(date(2020, 1, 23), "Korea, South", None, None)].new_confirmed is None
    assert rows[(date(2020, 3, 1), "United Kingdom", None, None)].iso3 == "GBR"
    assert rows[(date(2020, 5, 29), "Czechia", None, None)].case_fatality_rate == pytest.approx(319 / 9197 * 100)
    afghanistan = {d.day: rows[(d, "Afghanistan", None, None)] for d in [date(2020, 11, x) for x in range(9, 15)]}
    assert [afghanistan[d].confirmed for d in range(9, 15)] == [42297, 42400, 42500, 42600, 42700, 42800]
    assert [afghanistan[d].new_confirmed for d in range(9, 15)] == [None, 103, 100, 100, 100, 100]
    assert afghanistan[12].last_update == datetime(2020, 11, 13, 5, 40, 7)  # the later of the duplicates
    assert afghanistan[13].extra_fields == {"people_tested": "150000"}
    assert afghanistan[14].recovered is None and afghanistan[14].latitude == 33.93911  # filled from the lookup
    abbeville = rows[(date(2020, 11, 10), "US", "South Carolina", "Abbeville")]
    assert (abbeville.confirmed, abbeville.new_confirmed, abbeville.fips, abbeville.source_file) == (
        1210, 10, "45001", "11-10-2020.csv.gz",
    )  # fmt: skip
    assert (date(2020, 11, 12), "US", "South Carolina", "Abbeville") not in rows  # negative count: quarantined
    assert rows[(date(2020, 11, 11), "US", "South Carolina", "Abbeville")].new_confirmed == 15

    quarantined = spark.read.parquet(str(tmp_path / "quarantine" / "run_id=run-1" / "rows")).collect()
    assert sorted(r.quarantine_reason for r in quarantined) == sorted(manifest["quarantine_reasons"])
    malformed = [r._corrupt_record for r in quarantined if r.quarantine_reason == "malformed_row"]
    assert malformed == [
        ",,,Bolivia,2020-11-13 05:40:07,-16.2902,-63.5887,142000,8800,114000,19200,Bolivia,1.0,0.0,unexpected,extra"
    ]  # the line as written
    assert sorted(p.name for p in (tmp_path / "quarantine" / "run_id=run-1" / "files").iterdir()) == sorted(BAD)
    reasons = [
        json.loads(x) for x in (tmp_path / "quarantine" / "run_id=run-1" / "files.jsonl").read_text().split("\n") if x
    ]
    assert {r["source_file"]: r["quarantine_reason"] for r in reasons} == BAD


def test_incremental_runs_equal_a_full_refresh_and_a_rerun_writes_nothing(spark, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    stage(inbox, ["01-22-2020.csv", "11-09-2020.csv", "11-10-2020.csv"], gzipped=("11-10-2020.csv",))
    first = job.run_job(spark, options(tmp_path))
    assert first["partitions_written"] == ["year=2020/month=1", "year=2020/month=11"]

    # Next day arrives, an old day is revised (same name, new content), and a January file appears.
    stage(inbox, ["11-11-2020.csv", "01-23-2020.csv"])
    revised = (FIXTURES / "11-10-2020.csv").read_bytes().replace(b"42400.0", b"42450.0")
    (inbox / "11-10-2020.csv.gz").write_bytes(gzip.compress(revised, mtime=0))
    second = job.run_job(spark, options(tmp_path))
    assert second["status"] == "succeeded"
    assert second["files_processed"] == 3 and second["files_skipped"] == 2
    assert second["rows_in"] == second["rows_out"] + second["rows_quarantined"] + second["rows_duplicate"]
    assert second["carry_forward"]["reason"] == "a changed or removed file had rows in the output"

    full = job.run_job(spark, options(tmp_path, output="full", full_refresh=True))
    assert full["files_processed"] == 5
    assert output_rows(spark, tmp_path / "out") == output_rows(spark, tmp_path / "full")
    afghanistan = {
        r.report_date.day: r.new_confirmed
        for r in spark.read.parquet(str(tmp_path / "out")).where("country = 'Afghanistan'").collect()
    }
    assert afghanistan == {9: None, 10: 153, 11: 50}  # revised 11-10 changed both its own and the next day's delta

    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*"))
    third = job.run_job(spark, options(tmp_path, run_id="rerun"))
    assert third["status"] == "no_new_input"
    assert (third["rows_in"], third["files_processed"], third["partitions_written"]) == (0, 0, [])
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*")) == before
    assert json.loads((tmp_path / "state-out" / "runs" / "rerun.json").read_text())["status"] == "no_new_input"


def stage_as(folder: Path, names: dict[str, str]) -> None:
    """Fixture content under another day's name (a JHU file's date is its name's)."""
    for name, fixture in names.items():
        (folder / name).write_bytes((FIXTURES / fixture).read_bytes())


def test_new_days_carry_unchanged_rows_forward_from_the_output_and_equal_a_full_refresh(spark, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    stage(inbox, ["01-22-2020.csv", "11-09-2020.csv", "11-11-2020.csv", "11-12-2020.csv"])
    stage_as(inbox, {"04-29-2020.csv": "11-09-2020.csv", "05-01-2020.csv": "11-11-2020.csv",
                     "07-31-2020.csv": "11-12-2020.csv", "10-31-2020.csv": "11-12-2020.csv",
                     "11-01-2020.csv": "11-13-2020.csv"})  # fmt: skip
    first = job.run_job(spark, options(tmp_path))
    assert first["carry_forward"] == {"used": False, "reason": None, "partitions": [], "rows": 0}  # a first run

    # The next January day, a gap in November (its neighbours' deltas change), April's last day (May 1st's
    # delta changes) and August's first (its delta needs July 31st from an untouched partition). The other
    # days of the rewritten months are published again as they were (November 1st's delta against October
    # 31st included).
    published_before = spark.read.parquet(str(tmp_path / "out")).where("month in (1, 4, 5, 11)").count()
    stage(inbox, ["01-23-2020.csv", "11-10-2020.csv"])
    stage_as(inbox, {"04-30-2020.csv": "11-10-2020.csv", "08-01-2020.csv": "11-13-2020.csv"})
    second = job.run_job(spark, options(tmp_path, run_id="second"))
    assert second["status"] == "succeeded" and second["files_processed"] == 4
    carried = second["carry_forward"]
    assert carried["used"] is True and carried["reason"] is None
    assert carried["partitions"] == ["year=2020/month=1", "year=2020/month=4", "year=2020/month=5",
                                     "year=2020/month=11"]  # fmt: skip
    assert carried["rows"] == published_before
    assert second["rows_context"] > 0  # July 31st, read for August 1st's deltas
    assert second["rows_in"] == second["rows_out"] + second["rows_quarantined"] + second["rows_duplicate"]
    assert second["partitions_written"] == [
        "year=2020/month=1", "year=2020/month=4", "year=2020/month=5", "year=2020/month=8", "year=2020/month=11",
    ]  # fmt: skip
    ledger = json.loads((tmp_path / "state-out" / "ledger.json").read_text())
    published = spark.read.parquet(str(tmp_path / "out")).groupBy("year", "month").count().collect()
    assert ledger["output"]["partitions"] == {f"year={r.year}/month={r.month}": r["count"] for r in published}

    job.run_job(spark, options(tmp_path, output="full", full_refresh=True))
    assert output_rows(spark, tmp_path / "out") == output_rows(spark, tmp_path / "full")
    deltas = {
        (r.report_date, r.new_confirmed)
        for r in spark.read.parquet(str(tmp_path / "out")).where("country = 'Afghanistan'").collect()
    }
    assert {
        (date(2020, 11, 10), 103),
        (date(2020, 11, 11), 100),
        (date(2020, 5, 1), 100),
        (date(2020, 8, 1), 100),
        (date(2020, 11, 1), 100),
    } <= deltas


def test_an_output_that_differs_from_the_ledger_is_rebuilt_from_the_raw_files(spark, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    stage(inbox, ["11-09-2020.csv", "11-11-2020.csv"])
    job.run_job(spark, options(tmp_path))
    for part in (tmp_path / "out" / "year=2020" / "month=11").glob("*.parquet"):
        part.unlink()  # someone emptied the month behind the job's back

    stage(inbox, ["11-10-2020.csv"])
    second = job.run_job(spark, options(tmp_path, run_id="second"))
    assert second["carry_forward"] == {
        "used": False, "reason": "the output's row counts differ from the ledger's", "partitions": [], "rows": 0,
    }  # fmt: skip
    job.run_job(spark, options(tmp_path, output="full", full_refresh=True))
    assert output_rows(spark, tmp_path / "out") == output_rows(spark, tmp_path / "full")


def test_a_second_name_for_the_same_file_is_quarantined_not_read_twice(spark, tmp_path: Path) -> None:
    stage(tmp_path / "plain" / "in", ["11-09-2020.csv", "11-10-2020.csv"])
    plain = job.run_job(spark, options(tmp_path / "plain"))

    inbox = tmp_path / "linked" / "in"
    stage(inbox, ["11-09-2020.csv", "11-10-2020.csv"])
    (inbox / "again").mkdir()
    (inbox / "again" / "11-10-2020.csv").symlink_to(inbox / "11-10-2020.csv")
    linked = job.run_job(spark, options(tmp_path / "linked", run_id="linked"))

    assert linked["same_file_as"] == {"again/11-10-2020.csv": "11-10-2020.csv"}
    assert linked["quarantined_files"] == {"again/11-10-2020.csv": "same_file_as_another_input"}
    counts = ("rows_in", "rows_out", "rows_quarantined", "rows_duplicate", "files_processed")
    assert [linked[k] for k in counts] == [plain[k] for k in counts]
    assert output_rows(spark, tmp_path / "linked" / "out") == output_rows(spark, tmp_path / "plain" / "out")
    reasons = (tmp_path / "linked" / "quarantine" / "run_id=linked" / "files.jsonl").read_text()
    assert json.loads(reasons) == {
        "source_file": "again/11-10-2020.csv",
        "quarantine_reason": "same_file_as_another_input",
        "same_file_as": "11-10-2020.csv",
    }


def test_a_failing_quality_gate_publishes_nothing(spark, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    stage(inbox, ["11-09-2020.csv"])
    job.run_job(spark, options(tmp_path))
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")}
    ledger_before = (tmp_path / "state-out" / "ledger.json").read_text()

    # December gets a file whose every row is bad: the month would be empty -> the volume check fails.
    (inbox / "12-01-2020.csv").write_text(
        "Country_Region,Confirmed,Deaths\nAfghanistan,-1,0\nAlbania,n/a,0\n", encoding="utf-8"
    )
    with pytest.raises(data_quality_checks.DataQualityError, match="volume"):
        job.run_job(spark, options(tmp_path, run_id="gated"))
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")} == before  # no staging folder left
    assert (tmp_path / "state-out" / "ledger.json").read_text() == ledger_before
    manifest = json.loads((tmp_path / "state-out" / "runs" / "gated.json").read_text())
    assert manifest["status"] == "failed_data_quality"
    failed = [r["expectation"] for r in manifest["data_quality"]["results"] if not r["success"]]
    assert "volume: at least one row" in failed


def test_script_runs_as_glue_runs_it(tmp_path: Path, repo_root: Path) -> None:
    """One subprocess run with Glue's reserved arguments: they are tolerated and JOB_RUN_ID names the manifest."""
    stage(tmp_path / "in", ["01-22-2020.csv", "01-23-2020.csv"])
    command = [
        sys.executable, str(repo_root / "glue_job" / "covid_transform.py"),
        "--JOB_NAME", "glue-style", "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_0123",
        "--job-language", "python", "--enable-metrics", "true", "--TempDir", str(tmp_path / "tmp"),
        "--enable-continuous-cloudwatch-log", "true", "--continuous-log-logGroup", "/aws-glue/jobs/x",
        "--extra-py-files", "s3://bucket/glue_job_libs.zip",
        "--source", "jhu_daily", "--input_path", str(tmp_path / "in"), "--output_path", str(tmp_path / "out"),
        "--quarantine_path", str(tmp_path / "q"), "--state_path", str(tmp_path / "state"),
        "--reference_path", str(LOOKUP), "--full_refresh", "false",
    ]  # fmt: skip
    env = {**__import__("os").environ, "PYSPARK_SUBMIT_ARGS": "--master local[1] --conf spark.ui.enabled=false "
           "--conf spark.ui.showConsoleProgress=false --conf spark.sql.shuffle.partitions=2 pyspark-shell"}  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=540, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "state" / "runs" / "jr_0123.json").read_text())
    assert (manifest["status"], manifest["rows_out"], manifest["job_name"]) == ("succeeded", 7, "glue-style")
