"""How local Spark settings reach an unchanged job script: PYSPARK_SUBMIT_ARGS."""

from __future__ import annotations

import shlex

from covid_pipeline.spark_env import quiet_local_conf, submit_args


def test_submit_args_split_back_into_the_settings_given_even_with_spaces() -> None:
    conf = {"spark.driver.extraJavaOptions": "-XX:-DontCompileHugeMethods -XX:TieredStopAtLevel=1",
            "spark.sql.shuffle.partitions": "4"}  # fmt: skip
    # PySpark's launcher splits the variable with shlex before it calls spark-submit.
    assert shlex.split(submit_args(conf, master="local[2]")) == [
        "--master", "local[2]",
        "--conf", "spark.driver.extraJavaOptions=-XX:-DontCompileHugeMethods -XX:TieredStopAtLevel=1",
        "--conf", "spark.sql.shuffle.partitions=4",
        "pyspark-shell",
    ]  # fmt: skip


def test_the_local_settings_split_back_into_themselves() -> None:
    conf = quiet_local_conf()
    expected = ["--master", "local[2]", *[part for k, v in conf.items() for part in ("--conf", f"{k}={v}")]]
    assert shlex.split(submit_args(conf)) == [*expected, "pyspark-shell"]
