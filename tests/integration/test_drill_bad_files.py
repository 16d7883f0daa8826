"""Failure drill: bad input files, all in ONE job run on local folders (faster than one run per file).

Every file is written into tmp_path at test time (nothing big is committed): empty, header only, binary,
gzip not declared as gzip, plain text declared as gzip, Latin-1, a 10 MB single line, 100k rows with a broken
quote in row 5, plus two good daily reports. Each must end quarantined with a reason or processed, the manifest
must reconcile (rows_in == rows_out + rows_quarantined + rows_duplicate), and a re-run must change nothing.
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import date
from pathlib import Path

import covid_transform as job
import pytest

from covid_pipeline import sample_data

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1800)]

OLD_HEADER = "Province/State,Country/Region,Last Update,Confirmed,Deaths,Recovered"
GOOD_DATES = (date(2020, 2, 1), date(2020, 2, 2))
BIG_ROWS = 100_000
BROKEN_ROW = 5  # 1-based data row with an unterminated quote


def big_file_with_a_broken_quote() -> bytes:
    lines = [OLD_HEADER]
    for index in range(1, BIG_ROWS + 1):
        province = f"Province {index}"
        if index == BROKEN_ROW:
            province = f'"{province}'  # opens a quote that never closes
        lines.append(f"{province},Country {index % 97},2/10/2020 12:00,{index},{index // 100},0")
    return ("\n".join(lines) + "\n").encode()


# file name -> (bytes, the quarantine reason the sniff must give; None = processed)
def bad_files() -> dict[str, tuple[bytes, str | None]]:
    good_report, _ = sample_data.render_daily_report(GOOD_DATES[0])
    rng = random.Random(7)
    return {
        "02-03-2020.csv": (b"", "empty_file"),
        "02-04-2020.csv": ((OLD_HEADER + "\n").encode(), "no_data_rows"),
        "02-05-2020.csv": (bytes(rng.randrange(256) for _ in range(4096)), "binary_content"),
        # gzip bytes under a plain .csv name, and plain text under a .csv.gz name
        "02-06-2020.csv": (gzip.compress(good_report, mtime=0), "binary_content"),
        "02-07-2020.csv.gz": (good_report, "not_gzip"),
        "02-08-2020.csv": (
            (OLD_HEADER + "\nCuraçao,Curaçao,2/8/2020 12:00,3,0,0\nRéunion,France,2/8/2020 12:00,5,0,0\n").encode(
                "latin-1"
            ),
            "invalid_encoding",
        ),
        "02-09-2020.csv": (b"x" * (10 * 1024 * 1024), "no_header"),  # 10 MB, one line, no newline
        "02-10-2020.csv": (big_file_with_a_broken_quote(), None),
    }


def options(root: Path, run_id: str) -> job.JobOptions:
    return job.JobOptions(
        job_name="drill-bad-files",
        source="jhu_daily",
        input_path=str(root / "in"),
        output_path=str(root / "out"),
        quarantine_path=str(root / "quarantine"),
        state_path=str(root / "state"),
        reference_path=str(root / "lookup.csv"),
        run_id=run_id,
    )


def test_bad_files_are_quarantined_with_a_reason_or_processed_and_the_manifest_reconciles(
    spark, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    files = bad_files()
    for name, (data, _) in files.items():
        (inputs / name).write_bytes(data)
    good_rows = 0
    for day in GOOD_DATES:
        data, rows = sample_data.render_daily_report(day)
        (inputs / sample_data.report_file_name(day)).write_bytes(data)
        good_rows += rows
    (tmp_path / "lookup.csv").write_bytes(sample_data.render_lookup())

    manifest = job.run_job(spark, options(tmp_path, "drill-1"))

    assert manifest["status"] == "succeeded"
    expected_quarantine = {name: reason for name, (_, reason) in files.items() if reason}
    assert manifest["quarantined_files"] == expected_quarantine
    assert manifest["files_quarantined"] == len(expected_quarantine)
    assert manifest["files_processed"] == len(GOOD_DATES) + 1
    # Every row of the processed files was read once and ends in exactly one place.
    assert manifest["rows_in"] == good_rows + BIG_ROWS
    assert manifest["rows_in"] == manifest["rows_out"] + manifest["rows_quarantined"] + manifest["rows_duplicate"]
    # The broken quote costs its own row only, never the other 99,999 rows after it.
    assert manifest["rows_quarantined"] >= 1
    big_rows_out = (
        spark.read.parquet(str(tmp_path / "out")).where("report_date = DATE'2020-02-10'").count()
    )  # the big file's day
    assert big_rows_out >= BIG_ROWS - manifest["rows_quarantined"] - manifest["rows_duplicate"]

    # Quarantined files are copied whole, with a reasons file; quarantined rows keep their reason.
    quarantine = tmp_path / "quarantine" / "run_id=drill-1"
    for name, (data, _) in files.items():
        if name in expected_quarantine:
            assert (quarantine / "files" / name).read_bytes() == data
    reasons = [json.loads(line) for line in (quarantine / "files.jsonl").read_text().splitlines()]
    assert {r["source_file"]: r["quarantine_reason"] for r in reasons} == expected_quarantine
    quarantined_rows = spark.read.parquet(str(quarantine / "rows"))
    assert quarantined_rows.count() == manifest["rows_quarantined"]
    broken = quarantined_rows.where("source_file = '02-10-2020.csv'").collect()
    assert len(broken) >= 1 and all(row["quarantine_reason"] for row in broken)

    # The manifest on disk says the same; a re-run finds nothing new and changes nothing.
    assert json.loads((tmp_path / "state" / "runs" / "drill-1.json").read_text())["rows_in"] == manifest["rows_in"]
    before = sorted((p.relative_to(tmp_path / "out"), p.stat().st_mtime_ns) for p in (tmp_path / "out").rglob("*"))
    again = job.run_job(spark, options(tmp_path, "drill-2"))
    assert again["status"] == "no_new_input"
    assert (again["rows_in"], again["files_processed"]) == (0, 0)
    after = sorted((p.relative_to(tmp_path / "out"), p.stat().st_mtime_ns) for p in (tmp_path / "out").rglob("*"))
    assert after == before
