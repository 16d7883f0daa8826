"""JDBC sources and sinks against a real PostgreSQL server, with the driver from Debian's libpostgresql-jdbc-java."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest

from awsglue import DynamicFrame
from awsglue._io import jdbc_driver_jar
from awsglue.context import GlueContext
from awsglue.job import Job
from tests.awsglue_support import rows

pytestmark = pytest.mark.spark
pytest_plugins = ["tests.pg", "tests.moto_fixture"]  # postgres_database; moto_endpoint


@pytest.fixture
def jdbc(postgres_database: str) -> Iterator[dict[str, str]]:
    """Glue's JDBC connection options for a fresh database holding a small table."""
    if jdbc_driver_jar() is None:
        pytest.skip("PostgreSQL JDBC driver jar not found: install Debian's libpostgresql-jdbc-java")
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute("CREATE TABLE cases (id integer PRIMARY KEY, country text, confirmed bigint)")
        connection.execute("INSERT INTO cases VALUES (1, 'China', 68149), (2, 'Italy', 2553032)")
    host_and_database = postgres_database.split("@", 1)[1]
    yield {"url": f"jdbc:postgresql://{host_and_database}", "user": "postgres", "password": "", "dbtable": "cases"}


def query(postgres_database: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(postgres_database) as connection:
        return list(connection.execute(sql).fetchall())  # type: ignore[arg-type]


def test_a_postgresql_source_reads_the_table(glue_context_for_jdbc: GlueContext, jdbc: dict[str, str]) -> None:
    frame = glue_context_for_jdbc.create_dynamic_frame.from_options(
        connection_type="postgresql", connection_options=jdbc
    )
    assert rows(frame.toDF(), "id") == [
        {"id": 1, "country": "China", "confirmed": 68149},
        {"id": 2, "country": "Italy", "confirmed": 2553032},
    ]


def test_a_postgresql_sink_appends_rows(
    spark: Any, glue_context_for_jdbc: GlueContext, jdbc: dict[str, str], postgres_database: str
) -> None:
    frame = DynamicFrame.fromDF(spark.createDataFrame([(3, "Spain", 1)], "id int, country string, confirmed long"),
                                glue_context_for_jdbc, "new")  # fmt: skip
    glue_context_for_jdbc.write_dynamic_frame.from_options(frame, "postgresql", jdbc)
    glue_context_for_jdbc.write_dynamic_frame.from_options(frame, "postgresql", {**jdbc, "dbtable": "fresh"})
    assert query(postgres_database, "SELECT id, country FROM cases ORDER BY id") == [
        (1, "China"),
        (2, "Italy"),
        (3, "Spain"),
    ]
    assert query(postgres_database, "SELECT id, country, confirmed FROM fresh") == [(3, "Spain", 1)]


def test_a_bookmarked_jdbc_source_reads_rows_past_its_bookmark_keys(
    glue_context_for_jdbc: GlueContext,
    jdbc: dict[str, str],
    postgres_database: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWSGLUE_BOOKMARK_STORE", str(tmp_path / "bookmarks.json"))

    def run(run_id: str) -> list[int]:
        job = Job(glue_context_for_jdbc)
        job.init("jdbc_job", {"JOB_RUN_ID": run_id, "job_bookmark_option": "job-bookmark-enable"})
        frame = glue_context_for_jdbc.create_dynamic_frame.from_options(
            "postgresql",
            {**jdbc, "jobBookmarkKeys": ["id"], "jobBookmarkKeysSortOrder": "asc"},
            transformation_ctx="cases",
        )
        ids = sorted(r["id"] for r in rows(frame.toDF()))
        job.commit()
        return ids

    assert run("jr_1") == [1, 2]
    assert run("jr_2") == []
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute("INSERT INTO cases VALUES (7, 'Peru', 10)")
    assert run("jr_3") == [7]


def test_from_jdbc_conf_writes_through_a_catalog_connection(
    spark: Any, moto_endpoint: str, glue_context_for_jdbc: GlueContext, jdbc: dict[str, str], postgres_database: str
) -> None:
    glue_context_for_jdbc._clients.clear()  # this test's moto server
    boto3.client("glue", region_name="us-east-1").create_connection(
        ConnectionInput={
            "Name": "warehouse",
            "ConnectionType": "JDBC",
            "ConnectionProperties": {"JDBC_CONNECTION_URL": jdbc["url"], "USERNAME": "postgres", "PASSWORD": "trusted"},
        }
    )
    frame = DynamicFrame.fromDF(spark.createDataFrame([(9, "Chad", 2)], "id int, country string, confirmed long"),
                                glue_context_for_jdbc, "new")  # fmt: skip
    glue_context_for_jdbc.write_dynamic_frame.from_jdbc_conf(frame, "warehouse", {"dbtable": "cases"})
    assert query(postgres_database, "SELECT id FROM cases ORDER BY id") == [(1,), (2,), (9,)]


def test_unsupported_jdbc_vendors_and_redshift_are_named(glue_context_for_jdbc: GlueContext) -> None:
    with pytest.raises(ValueError, match="no JDBC driver for 'mysql'"):
        glue_context_for_jdbc.create_dynamic_frame.from_options("mysql", {"url": "jdbc:mysql://h/d", "dbtable": "t"})
    with pytest.raises(ValueError, match="unsupported connection_type 'redshift'"):
        glue_context_for_jdbc.create_dynamic_frame.from_options("redshift", {"url": "jdbc:redshift://h/d"})


@pytest.fixture
def glue_context_for_jdbc(spark: Any) -> GlueContext:
    return GlueContext(spark.sparkContext)
