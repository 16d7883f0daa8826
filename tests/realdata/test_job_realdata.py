"""The Glue job on the real JHU CSSE and OWID files in ../shared/data (skipped with a reason when absent).

Known facts below were read from the raw files by hand (zcat | grep), not from the job's output.
"""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import covid_transform as job
import pytest
from pyspark.sql import functions as F

pytestmark = [pytest.mark.realdata, pytest.mark.spark]


def options(root: Path, input_path: Path, reference: Path, source: str = "jhu_daily", out: str = "out",
            full_refresh: bool = False) -> job.JobOptions:  # fmt: skip
    return job.JobOptions(
        job_name="realdata",
        source=source,
        input_path=str(input_path),
        output_path=str(root / out),
        quarantine_path=str(root / "quarantine"),
        state_path=str(root / f"state-{out}"),
        reference_path=str(reference),
        full_refresh=full_refresh,
    )


def link(folder: Path, files: list[Path]) -> Path:
    """Stage real files by symlink (never copies of the data)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        (folder / path.name).symlink_to(path)
    return folder


def reconciles(manifest: dict) -> bool:
    return manifest["rows_in"] == manifest["rows_out"] + manifest["rows_quarantined"] + manifest["rows_duplicate"]


@pytest.fixture(scope="module")
def jhu_full(shared_data: Path, spark, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("jhu-full")
    daily = shared_data / "jhu_csse" / "daily_reports"
    manifest = job.run_job(spark, options(root, daily, shared_data / "jhu_csse" / "UID_ISO_FIPS_LookUp_Table.csv"))
    return manifest, root


@pytest.mark.slow
def test_full_jhu_set_reconciles(jhu_full: tuple[dict, Path]) -> None:
    manifest, _ = jhu_full
    assert manifest["status"] == "succeeded"
    assert manifest["rows_in"] == 1_669_907  # the data folder's README
    assert reconciles(manifest)
    assert (manifest["files_processed"], manifest["files_quarantined"]) == (495, 0)
    assert manifest["skipped_reasons"] == {"not_a_data_file": 2, "unchanged": 0}  # README.md, .gitignore
    assert len(manifest["partitions_written"]) == 17  # 2020-01 .. 2021-05
    assert manifest["new_columns"] == []
    assert not [r for r in manifest["data_quality"]["results"] if r["severity"] == "fail" and not r["success"]]


@pytest.mark.slow
def test_known_facts_of_the_jhu_set(jhu_full: tuple[dict, Path], spark) -> None:
    _, root = jhu_full
    df = spark.read.parquet(str(root / "out"))

    def one(day: date, country: str, province: str | None = None, admin2: str | None = None):
        rows = df.where(
            (df.report_date == day)
            & (df.country == country)
            & (df.province.eqNullSafe(province))
            & (df.admin2.eqNullSafe(admin2))
        ).collect()
        assert len(rows) == 1, (day, country, province, admin2, rows)
        return rows[0]

    # 05-30-2021.csv.gz: ",,,Afghanistan,2021-05-31 03:08:59,...,70761,2919,..."; 05-29: 70111, 2899.
    afg = one(date(2021, 5, 30), "Afghanistan")
    assert (afg.confirmed, afg.deaths, afg.new_confirmed, afg.new_deaths, afg.iso3) == (70761, 2919, 650, 20, "AFG")
    # 04-01-2020: New York City 47439 / 1139; 03-31-2020: 43119 / 932.
    nyc = one(date(2020, 4, 1), "US", "New York", "New York City")
    assert (nyc.confirmed, nyc.deaths, nyc.new_confirmed, nyc.new_deaths, nyc.fips) == (47439, 1139, 4320, 207, "36061")
    # 02-15-2020: "Hubei,Mainland China,2020-02-15T23:13:05,56249,1596,5623" (era 1, alias resolved).
    hubei = one(date(2020, 2, 15), "China", "Hubei")
    assert (hubei.confirmed, hubei.deaths, hubei.recovered, hubei.schema_era) == (56249, 1596, 5623, "jhu_v1")
    assert str(hubei.last_update) == "2020-02-15 23:13:05"
    assert df.where(df.country.isin("Mainland China", "South Korea", "UK", "Czech Republic")).count() == 0
    assert sorted(r.schema_era for r in df.select("schema_era").distinct().collect()) == [
        "jhu_v1", "jhu_v2", "jhu_v3", "jhu_v4", "jhu_v5",
    ]  # fmt: skip


@pytest.mark.slow
def test_incremental_equals_full_refresh_on_a_split_with_a_revised_file(
    shared_data: Path, spark, tmp_path: Path
) -> None:
    daily = shared_data / "jhu_csse" / "daily_reports"
    lookup = shared_data / "jhu_csse" / "UID_ISO_FIPS_LookUp_Table.csv"
    months = sorted(daily.glob("0[45]-*-2021.csv.gz"))  # April + May 2021: a month boundary, ~60 files
    first, rest = months[:40], months[40:]
    inbox = link(tmp_path / "in", first)
    one = job.run_job(spark, options(tmp_path, inbox, lookup))
    assert one["status"] == "succeeded" and reconciles(one)

    link(inbox, rest)
    # JHU revises history: 04-30-2021 republished with one count changed (the month's last day).
    revised_name = "04-30-2021.csv.gz"
    text = gzip.decompress((daily / revised_name).read_bytes()).decode("utf-8")
    line = next(x for x in text.splitlines() if ",Afghanistan," in x)
    fields = line.split(",")
    fields[7] = str(int(fields[7]) + 1000)
    (inbox / revised_name).unlink()
    (inbox / revised_name).write_bytes(gzip.compress(text.replace(line, ",".join(fields)).encode("utf-8")))
    two = job.run_job(spark, options(tmp_path, inbox, lookup))
    assert two["status"] == "succeeded" and reconciles(two)
    assert two["files_processed"] == len(rest) + 1
    assert set(two["partitions_written"]) == {"year=2021/month=4", "year=2021/month=5"}

    full = job.run_job(spark, options(tmp_path, inbox, lookup, out="full", full_refresh=True))
    incremental_df = spark.read.parquet(str(tmp_path / "out"))
    full_df = spark.read.parquet(str(tmp_path / "full"))
    assert incremental_df.count() == full_df.count() == full["rows_out"]
    cols = [c for c in full_df.columns if c != "extra_fields"]
    assert incremental_df.select(cols).exceptAll(full_df.select(cols)).count() == 0
    assert full_df.select(cols).exceptAll(incremental_df.select(cols)).count() == 0
    may_first = full_df.where("country = 'Afghanistan' and report_date = date'2021-05-01'").collect()[0]
    april_last = full_df.where("country = 'Afghanistan' and report_date = date'2021-04-30'").collect()[0]
    assert may_first.new_confirmed == may_first.confirmed - april_last.confirmed

    three = job.run_job(spark, options(tmp_path, inbox, lookup))
    assert three["status"] == "no_new_input" and three["partitions_written"] == []


@pytest.mark.slow
def test_new_days_carried_forward_equal_a_full_refresh(shared_data: Path, spark, tmp_path: Path) -> None:
    """Days arriving late (a month's last day, a gap) on published history: the unchanged rows come back
    from the output, not the raw files, and the result is still a full refresh's, row for row."""
    daily = shared_data / "jhu_csse" / "daily_reports"
    lookup = shared_data / "jhu_csse" / "UID_ISO_FIPS_LookUp_Table.csv"
    window = [daily / f"{day}-2021.csv.gz" for day in ("04-27", "04-28", "04-29", "04-30", "05-01", "05-02",
                                                        "05-03", "05-04")]  # fmt: skip
    late = {"04-30-2021.csv.gz", "05-03-2021.csv.gz"}
    inbox = link(tmp_path / "in", [p for p in window if p.name not in late])
    one = job.run_job(spark, options(tmp_path, inbox, lookup))
    assert one["status"] == "succeeded" and reconciles(one)

    link(inbox, [p for p in window if p.name in late])
    two = job.run_job(spark, options(tmp_path, inbox, lookup))
    assert two["status"] == "succeeded" and reconciles(two) and two["files_processed"] == 2
    assert two["carry_forward"]["used"] is True
    assert two["carry_forward"]["partitions"] == ["year=2021/month=4", "year=2021/month=5"]
    assert two["rows_out"] == one["rows_out"] + two["rows_in"] - two["carry_forward"]["rows"] - (
        two["rows_quarantined"] + two["rows_duplicate"]
    )

    full = job.run_job(spark, options(tmp_path, inbox, lookup, out="full", full_refresh=True))
    # Maps cannot be compared by Spark's set operations: extra_fields is compared as its JSON.
    incremental_df, full_df = (
        spark.read.parquet(str(tmp_path / out)).withColumn("extra_fields", F.to_json("extra_fields"))
        for out in ("out", "full")
    )
    assert incremental_df.count() == full_df.count() == full["rows_out"]
    assert incremental_df.exceptAll(full_df).count() == 0 and full_df.exceptAll(incremental_df).count() == 0
    may = full_df.where("country = 'Afghanistan' and report_date in (date'2021-05-01', date'2021-04-30')")
    april_last, may_first = sorted(may.collect(), key=lambda r: r.report_date)
    assert may_first.new_confirmed == may_first.confirmed - april_last.confirmed


@pytest.mark.parametrize(
    ("name", "rows", "country", "day", "confirmed", "deaths"),
    [
        # "USA,North America,United States,2020-08-13,5197148.0,55941.0,166027.0,1490.0,..."
        ("owid-covid-data.asof-2020-08-14.csv.gz", 36_774, "US", date(2020, 8, 13), 5_197_148, 166_027),
        pytest.param(
            # "DEU,Europe,Germany,2021-04-01,2866323.0,22679.0,17387.857,76823.0,..."
            "owid-covid-data.asof-2021-04-24.csv.gz", 83_862, "Germany", date(2021, 4, 1), 2_866_323, 76_823,
            marks=pytest.mark.slow,
        ),
    ],
)  # fmt: skip
def test_each_owid_version_reconciles(
    shared_data: Path, spark, tmp_path: Path, name: str, rows: int, country: str, day: date, confirmed: int, deaths: int
) -> None:
    inbox = link(tmp_path / "in", [shared_data / "owid" / name])
    manifest = job.run_job(
        spark, options(tmp_path, inbox, shared_data / "jhu_csse" / "UID_ISO_FIPS_LookUp_Table.csv", source="owid")
    )
    assert manifest["status"] == "succeeded" and reconciles(manifest)
    assert manifest["rows_in"] == rows and manifest["files_processed"] == 1
    assert manifest["new_columns"] == []
    df = spark.read.parquet(str(tmp_path / "out"))
    row = df.where((df.country == country) & (df.report_date == day)).collect()
    assert len(row) == 1
    assert (row[0].confirmed, row[0].deaths, row[0].schema_era) == (confirmed, deaths, manifest_era(name))
    assert row[0].iso3 in ("USA", "DEU")
    assert row[0].extra_fields and "continent" in row[0].extra_fields


def manifest_era(name: str) -> str:
    return "owid_v1" if "2020-08-14" in name else "owid_v2"
