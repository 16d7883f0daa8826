"""A warm job process for the local Glue executor: Spark up and its JVM warmed, waiting to run one job script.

A cold job process spends about 10 s starting Python and the Spark JVM, and its first Spark actions run
interpreted, unjitted code: a run of the job on a few dozen rows took 29 s in a fresh JVM and 12 s in a warm
one. Glue keeps warm pools of workers for the same reason. The executor starts this process ahead of a run
(``python -m covid_pipeline.local.glue_standby``, with the environment a cold job process would get); it
creates the Spark session from that environment, runs a small, generic ETL workload (CSV in, expressions,
a join, a window, an aggregation, partitioned Parquet out) into its own folder, and waits. When a run comes,
the executor writes one JSON line to its stdin - ``{"script", "argv", "cwd", "python_path"}`` - and the
script runs as ``python <script> <args>`` would run it: as ``__main__``, with that argv and working
directory, its own folder first on ``sys.path``, and ``SparkSession.builder.getOrCreate()`` returning the
session already up. The process serves one run and exits with the script's exit code, as a cold one does.
An empty stdin (the executor closing it) ends the process without running anything.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import runpy
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WARMUP_ROUNDS = 2
READY_LINE = "glue standby: ready"


class _Request:
    """The run request, read from stdin on a thread so that the warm-up can stop as soon as it arrives."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.line = ""
        threading.Thread(target=self._read, name="standby-request", daemon=True).start()

    def _read(self) -> None:
        self.line = sys.stdin.readline()
        self.arrived.set()


def warm_up(spark: Any, folder: Path, stop: Callable[[], bool], rounds: int = WARMUP_ROUNDS) -> int:
    """Run a small generic ETL workload until done or ``stop()``; returns the steps completed."""
    steps = 0
    for round_number in range(rounds):
        for step in _workload(spark, folder / f"round{round_number}"):
            if stop():
                return steps
            step()
            steps += 1
    return steps


def _workload(spark: Any, base: Path) -> list[Callable[[], Any]]:
    """CSV out and back in, typed and cleaned, joined, windowed, written as partitioned Parquet, queried."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def write_csv() -> None:
        spark.range(4000).selectExpr(
            "id",
            "cast(id % 13 as string) as key",
            "concat(' Place, ', cast(id % 97 as string), ' ') as name",
            "cast(date_add(to_date('2020-01-22'), cast(id % 70 as int)) as string) as day",
            "cast(cast(id * 7 % 1000 as double) / 4 as string) as amount",
            "concat('2020-03-', lpad(cast(id % 28 + 1 as string), 2, '0'), 'T10:00:00') as stamp",
        ).write.mode("overwrite").option("header", "true").csv(str(base / "csv"))

    def transform_to_parquet() -> None:
        raw = (
            spark.read.option("header", "true")
            .option("escape", '"')
            .schema("id string, key string, name string, day string, amount string, stamp string")
            .csv(str(base / "csv"))
            .withColumn("source", F.input_file_name())
        )
        typed = raw.select(
            F.col("id").cast("long").alias("id"),
            F.upper(F.trim(F.regexp_replace("name", r"\s+", " "))).alias("name"),
            "key",
            F.to_date("day").alias("day"),
            F.when(F.col("amount").rlike(r"^-?[0-9.]+$"), F.col("amount").cast("double")).alias("amount"),
            F.coalesce(F.to_timestamp("stamp", "yyyy-MM-dd'T'HH:mm:ss"), F.to_timestamp("stamp")).alias("stamp"),
            F.url_decode(F.regexp_replace("source", r"^[a-z]+:", "")).alias("source"),
        )
        keys = spark.createDataFrame([(str(k), f"group {k}") for k in range(13)], "key string, label string")
        window = Window.partitionBy("key").orderBy("day", "id")
        (
            typed.join(F.broadcast(keys), "key", "left")
            .withColumn("previous", F.lag("amount").over(window))
            .withColumn("delta", F.col("amount") - F.coalesce(F.col("previous"), F.lit(0.0)))
            .withColumn("year", F.year("day"))
            .withColumn("month", F.month("day"))
            .write.mode("overwrite")
            .partitionBy("year", "month")
            .parquet(str(base / "parquet"))
        )

    def query() -> None:
        spark.read.parquet(str(base / "parquet")).where("month = 2").groupBy("key").count().collect()

    return [write_csv, transform_to_parquet, query]


def _run_script(request: dict[str, Any]) -> None:
    script = str(Path(request["script"]).resolve())
    os.chdir(request["cwd"])
    python_path = [str(p) for p in request.get("python_path", [])]
    os.environ["PYTHONPATH"] = os.pathsep.join(python_path)
    # As `python <script>` sets it up: the script's folder first, then PYTHONPATH, then the rest.
    sys.path[:] = [str(Path(script).parent), *python_path, *[p for p in sys.path[1:] if p not in python_path]]
    sys.argv = [script, *request["argv"]]
    runpy.run_path(script, run_name="__main__")


def warm_aws(spark: Any) -> None:
    """Load what a job's first S3 access costs: boto3's default session with the clients Glue jobs use (their
    service models stay cached in that session), and the S3A connector (a probe of a bucket that needs not
    exist; the endpoint and credentials are the run's, from the environment)."""
    import boto3

    for service in ("s3", "glue", "cloudwatch"):
        boto3.client(service)
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    if conf.get("fs.s3a.impl") is None and conf.get("fs.s3.impl") is None:
        return
    probe = jvm.org.apache.hadoop.fs.Path("s3a://glue-standby-warm-up-probe/probe")
    # No such bucket, or no endpoint at all: the classes are loaded either way.
    with contextlib.suppress(Exception):
        probe.getFileSystem(conf).exists(probe)


def _import(modules: list[str]) -> list[str]:
    """Import the job's extra modules ahead of the run (some take seconds); returns those that failed."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the run will meet (and report) the same error itself
            failed.append(name)
    return failed


def main(argv: list[str]) -> int:
    """argv: module names to import ahead of the run (the jobs' --additional-python-modules)."""
    request = _Request()
    started = time.monotonic()
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    spark_up = time.monotonic() - started
    folder = Path(tempfile.mkdtemp(prefix="warm-up-", dir=os.getcwd()))
    steps = 0
    try:
        steps = warm_up(spark, folder, request.arrived.is_set)
    except Exception as exc:  # a warm-up that fails leaves a colder process, never a broken one
        print(f"glue standby: warm-up stopped early: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    finally:
        spark.catalog.clearCache()
        shutil.rmtree(folder, ignore_errors=True)
    imported = 0
    if not request.arrived.is_set():
        imported = len(argv) - len(_import(argv))
        try:
            warm_aws(spark)
        except Exception as exc:
            print(f"glue standby: AWS warm-up skipped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    print(
        f"{READY_LINE}: Spark up in {spark_up:.1f} s, then {steps} warm-up steps and {imported} of {len(argv)} "
        f"module(s) imported in {time.monotonic() - started - spark_up:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    request.arrived.wait()
    if not request.line.strip():
        return 0
    _run_script(json.loads(request.line))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
