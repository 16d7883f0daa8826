"""The TableInput shapes the local awsglue and `covid-pipeline schema --update` both send to the Glue API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from awsglue._catalog import CatalogError, new_table_input, table_input_with_columns


def test_rewriting_a_table_keeps_what_it_had_and_leaves_out_the_read_only_fields() -> None:
    table = {
        "Name": "covid_jhu_daily",
        "DatabaseName": "covid",
        "VersionId": "3",
        "CreateTime": datetime(2026, 1, 1, tzinfo=UTC),
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet"},
        "PartitionKeys": [{"Name": "year", "Type": "int"}],
        "StorageDescriptor": {"Location": "s3://processed/jhu/", "Columns": [{"Name": "country", "Type": "string"}]},
    }
    columns = [{"Name": "country", "Type": "string"}, {"Name": "confirmed", "Type": "bigint"}]
    assert table_input_with_columns(table, columns) == {
        "Name": "covid_jhu_daily",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet"},
        "PartitionKeys": [{"Name": "year", "Type": "int"}],
        "StorageDescriptor": {"Location": "s3://processed/jhu/", "Columns": columns},
    }


def test_a_new_parquet_table_gets_parquets_formats_and_an_unknown_format_is_refused() -> None:
    table_input = new_table_input("t", "parquet", [{"Name": "a", "Type": "int"}], [], "s3://b/t/")
    assert table_input["Parameters"] == {"classification": "parquet"}
    assert table_input["StorageDescriptor"]["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }
    with pytest.raises(CatalogError, match="cannot create a catalog table of format 'avro'"):
        new_table_input("t", "avro", [], [], "s3://b/t/")
