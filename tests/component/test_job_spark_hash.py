"""utils.spark_hash against the Spark it describes: the same hash, the same tasks."""

from __future__ import annotations

from utils import spark_hash


def test_hash_int_is_sparks_hash_of_an_int(spark) -> None:
    values = [0, 1, -1, 42, 2020, 2**31 - 1, -(2**31), *range(100, 140)]
    df = spark.createDataFrame([(v,) for v in values], "v int")
    assert [r.h for r in df.selectExpr("hash(v) AS h").collect()] == [spark_hash.hash_int(v) for v in values]


def test_values_for_tasks_land_in_their_tasks(spark) -> None:
    for tasks in (1, 2, 5, 17):
        values = spark_hash.values_for_tasks(tasks)
        df = spark.createDataFrame([(v,) for v in values], "v int").repartition(tasks, "v")
        placed = dict(df.selectExpr("v", "spark_partition_id() AS task").collect())
        assert [placed[v] for v in values] == list(range(tasks))
