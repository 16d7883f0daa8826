"""The Spark read edge: field-count mismatches, quoted commas, the file each row came from."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import covid_transform
import pytest
import schema_evolution as se
from utils import readers

pytestmark = pytest.mark.spark

HEADER = "Province/State,Country/Region,Last Update,Confirmed,Deaths,Recovered"
LINES = [
    "Hubei,Mainland China,1/22/2020 17:00,444,17,28",  # exact
    '"Cruise Ship, Diamond Princess",Others,1/22/2020 17:00,1,0,0',  # a quoted comma is not a field break
    "Anhui,Mainland China,1/22/2020 17:00,1",  # fewer fields: missing ones are null, the row is kept
    "Beijing,Mainland China,1/22/2020 17:00,14,0,0,surplus",  # more fields than the header: malformed
    '"Macau, ""SAR""",Macau,1/22/2020 17:00,1,0,0',  # doubled quotes inside a quoted field
]


def _jhu_csv(path: Path, header: tuple[str, ...]) -> readers.InputFile:
    """A JHU daily report of 2020-01-22 with this header."""
    mapping = se.map_header(list(header), "jhu_daily")
    return readers.InputFile(str(path), path.name, "csv", mapping, header, date(2020, 1, 22), 20200122)


def test_too_many_fields_are_malformed_with_the_line_kept_and_short_lines_are_not(spark, tmp_path: Path) -> None:
    path = tmp_path / "01-22-2020.csv"
    path.write_text("\ufeff" + HEADER + "\r\n" + "\r\n".join(LINES) + "\r\n", encoding="utf-8")
    header = tuple(HEADER.split(","))
    frame, new_columns = readers.read_inputs(spark, [_jhu_csv(path, header)], "jhu_daily")
    rows = {r.province: r for r in frame.collect()}

    assert new_columns == []
    assert len(rows) == len(LINES)  # the header line (with its BOM) is not a row
    assert {p for p, r in rows.items() if r._corrupt_record is not None} == {"Beijing"}
    assert rows["Beijing"]._corrupt_record == LINES[3]
    anhui = rows["Anhui"]
    assert (anhui.country, anhui.confirmed, anhui.deaths, anhui.recovered) == ("Mainland China", "1", None, None)
    assert rows["Cruise Ship, Diamond Princess"].confirmed == "1"
    assert rows['Macau, "SAR"'].recovered == "0"
    assert {r.source_file for r in rows.values()} == {path.name}
    assert {r.file_date for r in rows.values()} == {date(2020, 1, 22)}


def test_csv_field_count_ignores_commas_inside_quotes(spark) -> None:
    lines = spark.createDataFrame([(line,) for line in LINES], "line string")
    counts = [r[0] for r in lines.select(readers.csv_field_count("line")).collect()]
    assert counts == [6, 6, 4, 7, 6]


@pytest.mark.parametrize(
    "name", ["01-22-2020 [1].csv", "a+b%20c 01-22-2020.csv", "défaut 01-22-2020.csv", "it's ${x} \\ 01-22-2020.csv"]
)
def test_each_row_keeps_its_file_whatever_the_file_is_called(spark, tmp_path: Path, name: str) -> None:
    """Rows learn their file from Spark's name for it, which is URL-encoded: a name with spaces, '+', '%',
    brackets or accents is still attributed, and a row with a blank first cell is not taken for the header."""
    header = tuple(HEADER.split(","))
    odd, plain = tmp_path / name, tmp_path / "01-23-2020.csv"
    odd.write_text(HEADER + "\n" + LINES[0] + "\n" + ",Others,1/22/2020 17:00,3,0,0\n", encoding="utf-8")
    plain.write_text(HEADER + "\n" + LINES[1] + "\n", encoding="utf-8")

    def item(path: Path, rank: int) -> readers.InputFile:
        mapping = se.map_header(list(header), "jhu_daily")
        return readers.InputFile(str(path), path.name, "csv", mapping, header, date(2020, 1, 22), rank)

    frame, _ = readers.read_inputs(spark, [item(odd, 1), item(plain, 2)], "jhu_daily")
    rows = {(r.source_file, r.file_rank, r.province, r.confirmed) for r in frame.collect()}

    assert rows == {
        (name, 1, "Hubei", "444"),
        (name, 1, None, "3"),
        ("01-23-2020.csv", 2, "Cruise Ship, Diamond Princess", "1"),
    }


def test_the_file_table_is_local_rows_that_need_no_python_worker(spark, tmp_path: Path) -> None:
    """Rows made into a DataFrame from Python are unpickled by Python workers, which a fresh process would start
    for this table alone; as an inline table Spark holds it as local rows, dateless files included."""
    header = tuple(HEADER.split(","))
    dated, dateless = tmp_path / "01-22-2020.csv", tmp_path / "extra.csv"
    for path in (dated, dateless):
        path.write_text(HEADER + "\n" + LINES[0] + "\n", encoding="utf-8")
    items = [_jhu_csv(dated, header), dataclasses.replace(_jhu_csv(dateless, header), file_date=None, file_rank=7)]
    frame, _ = readers.read_inputs(spark, items, "jhu_daily")
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "LocalTableScan" in plan and "ExistingRDD" not in plan
    rows = {(r.source_file, r.file_date, r.file_rank) for r in frame.collect()}
    assert rows == {("01-22-2020.csv", date(2020, 1, 22), 20200122), ("extra.csv", None, 7)}


def test_a_decoded_path_key_matches_the_storage_key() -> None:
    assert readers.decoded_path_key("file:/tmp/a%20b+c%25%5B1%5D.csv") == "tmp/a b+c%[1].csv"
    assert readers.decoded_path_key("s3a://bucket/raw/x%2By.csv") == "bucket/raw/x+y.csv"


def test_rows_of_every_format_in_one_run_keep_their_file(spark, tmp_path: Path) -> None:
    """CSV, JSON Lines and Parquet files read in one run: the file table covers every read of the union."""
    header = tuple(HEADER.split(","))
    csv_path, json_path, parquet_path = tmp_path / "a b.csv", tmp_path / "c+d.jsonl", tmp_path / "e%f.parquet"
    csv_path.write_text(HEADER + "\n" + LINES[0] + "\n", encoding="utf-8")
    json_path.write_text('{"Country/Region": "Italy", "Confirmed": "5"}\n', encoding="utf-8")
    spark.createDataFrame([("Spain", "7")], "`Country/Region` string, Confirmed string").coalesce(1).write.parquet(
        str(tmp_path / "staged")
    )
    (staged,) = (tmp_path / "staged").glob("*.parquet")
    staged.rename(parquet_path)

    def item(path: Path, fmt: str, rank: int) -> readers.InputFile:
        mapping = se.map_header(list(header), "jhu_daily") if fmt == "csv" else None
        return readers.InputFile(str(path), path.name, fmt, mapping, header if mapping else (), None, rank)

    files = [item(csv_path, "csv", 1), item(json_path, "json", 2), item(parquet_path, "parquet", 3)]
    frame, _ = readers.read_inputs(spark, files, "jhu_daily")

    assert {(r.source_file, r.file_rank, r.country) for r in frame.collect()} == {
        ("a b.csv", 1, "Mainland China"),
        ("c+d.jsonl", 2, "Italy"),
        ("e%f.parquet", 3, "Spain"),
    }


def test_headers_and_values_spark_sql_would_read_as_syntax_arrive_as_written(spark, tmp_path: Path) -> None:
    """The read's expressions are SQL text: quotes, backslashes and ${...} in a header or a value stay text."""
    covid_transform.configure_session(spark)
    header = ("Province/State", "Country/Region", "Last Update", "Confirmed", "it's ${note}", "back\\slash`")
    line = '"${province}",\'Quoted\',1/22/2020 17:00,3,"${value}, it\'s",\\'
    path = tmp_path / "${x} 01-22-2020.csv"
    path.write_text(",".join(header) + "\n" + ",".join(header) + "\n" + line + "\n", encoding="utf-8")
    frame, new_columns = readers.read_inputs(spark, [_jhu_csv(path, header)], "jhu_daily")
    rows = frame.collect()

    assert new_columns == sorted(header[4:])
    assert len(rows) == 1  # the header, repeated, is dropped by value like any header line
    row = rows[0]
    assert (row.province, row.country, row.confirmed, row.source_file) == ("${province}", "'Quoted'", "3", path.name)
    assert row.extra_fields == {"it's ${note}": "${value}, it's", "back\\slash`": "\\"}


def test_the_layout_with_the_fewest_files_is_read_first(spark, tmp_path: Path) -> None:
    """Rare layouts lead the union, so their rows meet the classification's code while the JVM still profiles it."""
    wide = ("FIPS", "Admin2", "Province_State", "Country_Region", "Last_Update", "Confirmed", "Deaths")
    old = tuple(HEADER.split(","))
    files = []
    for day in (23, 24, 25):
        path = tmp_path / f"01-{day}-2020.csv"
        path.write_text(",".join(wide) + "\n" + f"1001,Autauga,Alabama,US,2020-01-{day} 23:59:00,{day},0\n")
        files.append(_jhu_csv(path, wide))
    rare = tmp_path / "01-22-2020.csv"
    rare.write_text(HEADER + "\n" + LINES[0] + "\n")
    files.append(_jhu_csv(rare, old))

    frame, _ = readers.read_inputs(spark, files, "jhu_daily")
    rows = frame.collect()

    assert len(rows) == 4
    assert (rows[0].source_file, rows[0].schema_era) == ("01-22-2020.csv", "jhu_v1")
    assert {r.schema_era for r in rows[1:]} == {"jhu_v3"}
