"""The Glue Data Catalog as a DynamicFrame source and sink, through the Glue API of a moto server.

Tables live in local folders (the catalog only holds their location); reading and writing s3:// through S3A is
exercised by the example job in the local cloud (test_awsglue_example_job.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from awsglue import DynamicFrame
from awsglue.context import GlueContext
from awsglue.job import Job
from tests.awsglue_support import rows

pytestmark = pytest.mark.spark
pytest_plugins = ["tests.moto_fixture"]  # the moto_endpoint fixture

DATABASE = "sales"


@pytest.fixture
def glue(moto_endpoint: str) -> Any:
    client = boto3.client("glue", region_name="us-east-1")
    client.create_database(DatabaseInput={"Name": DATABASE})
    return client


@pytest.fixture
def context(spark: Any, glue: Any) -> Iterator[GlueContext]:
    """A GlueContext of its own: its clients point at this test's moto server."""
    yield GlueContext(spark.sparkContext)


def create_table(
    glue: Any,
    name: str,
    location: Path,
    classification: str,
    columns: dict[str, str],
    keys: dict[str, str],
    **more: Any,
) -> None:
    """A catalog table: its columns and partition keys as name -> type."""
    descriptor = {"Location": str(location), "Columns": [{"Name": n, "Type": t} for n, t in columns.items()]}
    table = {
        "Name": name,
        "Parameters": {"classification": classification, **more.pop("parameters", {})},
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in keys.items()],
        "StorageDescriptor": {**descriptor, **more},
    }
    glue.create_table(DatabaseName=DATABASE, TableInput=table)


def csv_table(glue: Any, location: Path) -> None:
    """A partitioned CSV table as a crawler would register it: header skipped, '|' separated, lower-case names."""
    create_table(
        glue, "orders", location, "csv", {"order id": "bigint", "item": "string"}, {"year": "int"},
        parameters={"skip.header.line.count": "1"}, SerdeInfo={"Parameters": {"field.delim": "|"}},
    )  # fmt: skip
    for year, lines in {2020: "Order Id|Item\n1|pen\n2|ink\n", 2021: "Order Id|Item\nx3|cap\n"}.items():
        folder = location / f"year={year}"
        folder.mkdir(parents=True)
        (folder / "part-0.csv").write_text(lines)
        glue.create_partition(
            DatabaseName=DATABASE,
            TableName="orders",
            PartitionInput={"Values": [str(year)], "StorageDescriptor": {"Location": str(folder)}},
        )


def test_from_catalog_reads_a_tables_partitions_with_the_catalogs_names_and_types(
    context: GlueContext, glue: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_table(glue, tmp_path / "orders")
    frame = context.create_dynamic_frame.from_catalog(database=DATABASE, table_name="orders")
    frame.printSchema()
    assert capsys.readouterr().out == (
        "root\n|-- order id: choice\n|    |-- long\n|    |-- string\n|-- item: string\n|-- year: int\n"
    )
    resolved = frame.resolveChoice(choice="match_catalog", database=DATABASE, table_name="orders")
    assert rows(resolved.toDF(), "item") == [
        {"order id": None, "item": "cap", "year": 2021},
        {"order id": 2, "item": "ink", "year": 2020},
        {"order id": 1, "item": "pen", "year": 2020},
    ]


def test_push_down_predicate_prunes_partitions_before_reading(context: GlueContext, glue: Any, tmp_path: Path) -> None:
    csv_table(glue, tmp_path / "orders")
    (tmp_path / "orders" / "year=2021" / "part-0.csv").write_text("not|a|valid|row|for|this|table\n")
    frame = context.create_dynamic_frame.from_catalog(
        database=DATABASE, table_name="orders", push_down_predicate="year == 2020"
    )
    assert sorted(r["item"] for r in rows(frame.toDF())) == ["ink", "pen"]
    server_side = context.create_dynamic_frame.from_catalog(
        database=DATABASE, table_name="orders", additional_options={"catalogPartitionPredicate": "year=2020"}
    )
    assert server_side.count() == 2
    with pytest.raises(ValueError, match="push_down_predicate 'no_such_column = 1'"):
        context.create_dynamic_frame.from_catalog(DATABASE, "orders", push_down_predicate="no_such_column = 1")


def test_a_bookmarked_catalog_source_reads_only_new_files(
    context: GlueContext, glue: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWSGLUE_BOOKMARK_STORE", str(tmp_path / "bookmarks.json"))
    csv_table(glue, tmp_path / "orders")

    def run(run_id: str) -> int:
        job = Job(context)
        job.init("orders_job", {"JOB_RUN_ID": run_id, "job_bookmark_option": "job-bookmark-enable"})
        count = context.create_dynamic_frame.from_catalog(DATABASE, "orders", transformation_ctx="orders").count()
        job.commit()
        return count

    assert run("jr_1") == 3
    assert run("jr_2") == 0
    (tmp_path / "orders" / "year=2021" / "part-1.csv").write_text("Order Id|Item\n4|box\n")
    assert run("jr_3") == 1


def test_a_catalog_sink_registers_the_partitions_it_writes(
    spark: Any, context: GlueContext, glue: Any, tmp_path: Path
) -> None:
    create_table(glue, "totals", tmp_path / "totals", "parquet", {"n": "bigint"}, {"year": "int"})
    frame = DynamicFrame.fromDF(spark.createDataFrame([(1, 2020), (2, 2021)], "n long, year int"), context, "t")
    context.write_dynamic_frame.from_catalog(
        frame=frame,
        database=DATABASE,
        table_name="totals",
        additional_options={"enableUpdateCatalog": True, "partitionKeys": ["year"]},
    )
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="totals")["Partitions"]
    assert sorted((p["Values"], p["StorageDescriptor"]["Location"]) for p in partitions) == [
        (["2020"], f"{tmp_path / 'totals'}/year=2020/"),
        (["2021"], f"{tmp_path / 'totals'}/year=2021/"),
    ]
    back = context.create_dynamic_frame.from_catalog(database=DATABASE, table_name="totals")
    assert rows(back.toDF(), "n") == [{"n": 1, "year": 2020}, {"n": 2, "year": 2021}]


def test_get_sink_with_catalog_info_creates_the_table_and_its_partitions(
    spark: Any, context: GlueContext, glue: Any, tmp_path: Path
) -> None:
    frame = DynamicFrame.fromDF(
        spark.createDataFrame([("a", 1, "US")], "item string, n long, region string"), context, "f"
    )
    sink = context.getSink(
        connection_type="s3", path=str(tmp_path / "new"), enableUpdateCatalog=True, partitionKeys=["region"]
    )
    sink.setFormat("glueparquet")
    sink.setCatalogInfo(catalogDatabase=DATABASE, catalogTableName="new_table")
    sink.writeFrame(frame)
    table = glue.get_table(DatabaseName=DATABASE, Name="new_table")["Table"]
    assert table["StorageDescriptor"]["Columns"] == [
        {"Name": "item", "Type": "string"},
        {"Name": "n", "Type": "bigint"},
    ]
    assert table["PartitionKeys"] == [{"Name": "region", "Type": "string"}]
    assert table["Parameters"]["classification"] == "parquet"
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="new_table")["Partitions"]
    assert [p["Values"] for p in partitions] == [["US"]]


def test_extract_jdbc_conf_reads_a_catalog_connection(context: GlueContext, glue: Any) -> None:
    glue.create_connection(
        ConnectionInput={
            "Name": "warehouse",
            "ConnectionType": "JDBC",
            "ConnectionProperties": {
                "JDBC_CONNECTION_URL": "jdbc:postgresql://127.0.0.1:5432/covid",
                "USERNAME": "loader",
                "PASSWORD": "secret",
            },
        }
    )
    assert context.extract_jdbc_conf("warehouse") == {
        "url": "jdbc:postgresql://127.0.0.1:5432",
        "fullUrl": "jdbc:postgresql://127.0.0.1:5432/covid",
        "user": "loader",
        "password": "secret",
        "vendor": "postgresql",
    }
    with pytest.raises(ValueError, match="connection nope not found"):
        context.extract_jdbc_conf("nope")


def test_purge_table_deletes_old_files_and_the_partitions_left_empty(
    context: GlueContext, glue: Any, tmp_path: Path
) -> None:
    csv_table(glue, tmp_path / "orders")
    context.purge_table(DATABASE, "orders", {"partitionPredicate": "year == 2021", "retentionPeriod": 0})
    assert not list((tmp_path / "orders" / "year=2021").iterdir())
    assert list((tmp_path / "orders" / "year=2020").iterdir())  # not matched by the predicate
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="orders")["Partitions"]
    assert [p["Values"] for p in partitions] == [["2020"]]
    context.purge_s3_path(str(tmp_path / "orders"), {"retentionPeriod": 168})  # files younger than a week stay
    assert list((tmp_path / "orders" / "year=2020").iterdir())


def test_an_unknown_table_is_an_error_naming_it(context: GlueContext, glue: Any) -> None:
    with pytest.raises(ValueError, match=r"table sales\.nope not found"):
        context.create_dynamic_frame.from_catalog(database=DATABASE, table_name="nope")


def test_write_data_frame_from_catalog_writes_a_dataframe_where_the_table_lives(
    spark: Any, context: GlueContext, glue: Any, tmp_path: Path
) -> None:
    create_table(glue, "flat", tmp_path / "flat", "json", {"n": "bigint"}, {})
    context.write_data_frame.from_catalog(spark.createDataFrame([(5,)], "n long"), DATABASE, "flat")
    assert rows(context.create_data_frame.from_catalog(DATABASE, "flat")) == [{"n": 5}]
