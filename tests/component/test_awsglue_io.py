"""S3-style sources and sinks on local folders: Glue's formats and options, partitionKeys, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from awsglue import DynamicFrame
from awsglue.context import GlueContext
from tests.awsglue_support import glue_context_fixture, rows  # noqa: F401  (the glue_context fixture)

pytestmark = pytest.mark.spark


def read(glue_context: GlueContext, path: Path, fmt: str, **format_options: Any) -> DynamicFrame:
    return glue_context.create_dynamic_frame.from_options(
        connection_type="s3", connection_options={"paths": [str(path)]}, format=fmt, format_options=format_options
    )


def test_csv_without_a_header_names_its_columns_col0_to_coln(glue_context: GlueContext, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1,Oslo,9.5\n2,Rome,\n")
    frame = read(glue_context, tmp_path, "csv")
    assert frame.toDF().columns == ["col0", "col1", "col2"]
    assert rows(frame.toDF(), "col0") == [
        {"col0": 1, "col1": "Oslo", "col2": 9.5},
        {"col0": 2, "col1": "Rome", "col2": None},
    ]


def test_csv_separator_quote_and_header_options(glue_context: GlueContext, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id|name\n1|'Korea| South'\n")
    frame = read(glue_context, tmp_path, "csv", withHeader=True, separator="|", quoteChar="'")
    assert rows(frame.toDF()) == [{"id": 1, "name": "Korea| South"}]


def test_a_doubled_quote_inside_quotes_is_one_quote(glue_context: GlueContext, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('name\n"say ""hi"""\n')
    assert rows(read(glue_context, tmp_path, "csv", withHeader=True).toDF()) == [{"name": 'say "hi"'}]


def test_json_records_keep_their_nesting_and_mixed_types_become_choices(
    glue_context: GlueContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [{"id": "p1", "seats": 435, "links": [{"url": "u"}]}, {"id": "p2", "seats": "many", "links": []}]
    (tmp_path / "a.json").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    frame = read(glue_context, tmp_path, "json")
    frame.printSchema()
    assert capsys.readouterr().out == (
        "root\n|-- id: string\n|-- seats: choice\n|    |-- int\n|    |-- string\n"
        "|-- links: array\n|    |-- element: struct\n|    |    |-- url: string\n"
    )
    assert frame.count() == 2


def test_json_path_picks_records_out_of_an_outer_array(glue_context: GlueContext, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"data": {"items": [{"n": 1},\n {"n": 2}]}}')
    frame = read(glue_context, tmp_path, "json", jsonPath="$.data.items[*]", multiline=True)
    assert rows(frame.toDF(), "n") == [{"n": 1}, {"n": 2}]


def test_parquet_written_with_partition_keys_is_laid_out_and_appended_as_glue_does(
    spark: Any, glue_context: GlueContext, tmp_path: Path
) -> None:
    df = spark.createDataFrame([(1, "US", 2020), (2, "FR", 2021)], "id long, country string, year int")
    frame = DynamicFrame.fromDF(df, glue_context, "f")
    out = tmp_path / "out"
    for _ in range(2):  # Glue's S3 sink adds files; it does not replace what is there
        glue_context.write_dynamic_frame.from_options(
            frame=frame,
            connection_type="s3",
            connection_options={"path": str(out), "partitionKeys": ["year"]},
            format="parquet",
        )
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(("_", "."))) == ["year=2020", "year=2021"]
    back = read(glue_context, out, "parquet")
    assert rows(back.toDF().groupBy("year").count(), "year") == [{"year": 2020, "count": 2}, {"year": 2021, "count": 2}]


def test_csv_sink_options_and_a_choice_written_as_its_text(glue_context: GlueContext, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("1,x\n2,7\n")
    frame = read(glue_context, tmp_path / "in", "csv")
    glue_context.write_dynamic_frame_from_options(
        frame, "s3", {"path": str(tmp_path / "out")}, "csv", {"writeHeader": False, "separator": ";"}
    )
    written = "".join(p.read_text() for p in sorted((tmp_path / "out").glob("part-*")))
    assert sorted(written.splitlines()) == ["1;x", "2;7"]


def test_orc_round_trip(spark: Any, glue_context: GlueContext, tmp_path: Path) -> None:
    frame = DynamicFrame.fromDF(spark.createDataFrame([(1, "a")], "id int, v string"), glue_context, "f")
    frame.write("s3", {"path": str(tmp_path / "orc")}, "orc")
    assert rows(read(glue_context, tmp_path / "orc", "orc").toDF()) == [{"id": 1, "v": "a"}]


def test_exclusions_leave_files_out(glue_context: GlueContext, tmp_path: Path) -> None:
    (tmp_path / "keep.csv").write_text("1\n")
    (tmp_path / "skip.csv").write_text("2\n")
    frame = glue_context.create_dynamic_frame.from_options(
        "s3", {"paths": [str(tmp_path)], "exclusions": '["**skip.csv"]'}, format="csv"
    )
    assert rows(frame.toDF()) == [{"col0": 1}]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda g, p: read(g, p, "avro"), "unsupported format 'avro'"),
        (lambda g, p: read(g, p, "csv", withHeaders=True), r"unsupported csv format option\(s\) \['withHeaders'\]"),
        (lambda g, p: g.create_dynamic_frame.from_options("s3", {"paths": [str(p)], "recurseDeep": True}, format="csv"),
         r"unsupported S3 source option\(s\) \['recurseDeep'\]"),
        (lambda g, p: g.create_dynamic_frame.from_options("dynamodb", {"dynamodb.input.tableName": "t"}),
         "unsupported connection_type 'dynamodb'"),
    ],
)  # fmt: skip
def test_unsupported_formats_options_and_connection_types_are_named(
    glue_context: GlueContext, tmp_path: Path, call: Any, message: str
) -> None:
    (tmp_path / "a.csv").write_text("1\n")
    with pytest.raises(ValueError, match=message):
        call(glue_context, tmp_path)


def test_sinks_refuse_redshift_and_unknown_options(spark: Any, glue_context: GlueContext, tmp_path: Path) -> None:
    frame = DynamicFrame.fromDF(spark.createDataFrame([(1,)], "id int"), glue_context, "f")
    with pytest.raises(ValueError, match="Redshift sinks are not supported"):
        glue_context.write_dynamic_frame.from_options(frame, "redshift", {"url": "jdbc:redshift://x", "dbtable": "t"})
    with pytest.raises(ValueError, match=r"\['partitionKey'\]"):
        glue_context.write_dynamic_frame.from_options(
            frame, "s3", {"path": str(tmp_path), "partitionKey": ["id"]}, "json"
        )
    with pytest.raises(ValueError, match=r"partitionKeys \['year'\] are not fields"):
        glue_context.write_dynamic_frame.from_options(
            frame, "s3", {"path": str(tmp_path), "partitionKeys": ["year"]}, "json"
        )


def test_glue_contexts_other_doors_to_the_same_sources(
    spark: Any, glue_context: GlueContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text('{"n": 1}\n{"n": 2}\n')
    df = glue_context.create_data_frame.from_options("s3", {"paths": [str(tmp_path / "in")]}, format="json")
    assert rows(df, "n") == [{"n": 1}, {"n": 2}]
    source = glue_context.getSource("file", paths=[str(tmp_path / "in")])
    source.setFormat("json")
    assert source.getFrame().count() == 2
    sink = glue_context.getSink("s3", path=str(tmp_path / "out"))
    sink.setFormat("csv", writeHeader=False)
    sink.writeFrame(DynamicFrame.fromDF(df, glue_context, "n"))
    assert sorted("".join(p.read_text() for p in (tmp_path / "out").glob("part-*")).split()) == ["1", "2"]
    glue_context.get_logger().warn("a line on the error stream")
    assert "a line on the error stream" in capsys.readouterr().err
    stamped = glue_context.add_ingestion_time_columns(df, "hour")
    assert stamped.columns == ["n", "ingest_year", "ingest_month", "ingest_day", "ingest_hour"]


def test_glue_context_takes_the_options_glue_documents_and_names_others(spark: Any) -> None:
    assert GlueContext(spark.sparkContext, minPartitions=2, targetPartitions=4).target_partitions == 4
    with pytest.raises(ValueError, match=r"\['maxPartitions'\]"):
        GlueContext(spark.sparkContext, maxPartitions=2)
