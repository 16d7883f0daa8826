"""The program of the local Glue executor's warm worker: a job process with Spark up and its JVM warmed, waiting to
run job scripts (``glue_warm_pool`` starts it and hands it runs).

A cold job process spends about 10 s starting Python and the Spark JVM, and its first Spark actions run
interpreted, unjitted code: a run of the job on a few dozen rows took 29 s in a fresh JVM and 12 s in a warm
one. Glue keeps warm pools of workers for the same reason. The executor starts this process ahead of a run
(``python -m covid_pipeline.local.glue_warm_worker``, with the environment a cold job process would get); it
creates the Spark session from that environment, runs a small, generic ETL workload (CSV in, expressions,
a join, a window, an aggregation, partitioned Parquet out) into its own folder, and waits. When a run comes,
the executor writes one JSON line to its stdin - ``{"script", "argv", "cwd", "python_path"}`` - and the
script runs as ``python <script> <args>`` would run it: as ``__main__``, with that argv and working
directory, its own folder first on ``sys.path``, and ``SparkSession.builder.getOrCreate()`` returning a
Spark session of its own.

Each run gets a new session of the warm SparkContext (``newSession()``: its own SQL settings, temporary
views and functions), and leaves nothing behind for the next: its cached tables are dropped, the modules
it imported from its own files (the script's folder, ``--extra-py-files``) are forgotten, and the working
directory, ``sys.path``, ``sys.argv``, the environment and the root logger are put back. The end of a run
is a line ``RUN_END_LINE rc=<exit code> reuse=<0|1>`` on stdout and on stderr, after the run's own output.
A process whose run succeeded serves the next run (up to ``MAX_RUNS``), printing the ready line again; one
whose run failed, or whose script stopped Spark, exits with the run's exit code, as a cold process does.
An empty stdin (the executor closing it) ends the process.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import queue
import runpy
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

WARMUP_ROUNDS = 1
READY_LINE = "glue warm worker: ready"
RUN_END_LINE = "glue warm worker: run ended"
# A long-lived JVM and interpreter gather garbage a fresh process would not have: start over now and then.
MAX_RUNS = 25


class _Requests:
    """Run requests, read from stdin on a thread so that the warm-up can stop as soon as one arrives.

    An empty line stands for the end of stdin."""

    def __init__(self) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, name="warm-worker-requests", daemon=True).start()

    def _read(self) -> None:
        for line in iter(sys.stdin.readline, ""):
            if line.strip():
                self._lines.put(line)
        self._lines.put("")

    def pending(self) -> bool:
        return not self._lines.empty()

    def next(self) -> str:
        return self._lines.get()


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


def exit_code(exc: SystemExit) -> int:
    """The exit status ``sys.exit(code)`` gives a process (a non-integer code is printed, status 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def fresh_session(base: Any) -> Any:
    """A new session of the warm SparkContext, made the one ``SparkSession.builder.getOrCreate()`` returns."""
    from pyspark.sql import SparkSession

    session = base.newSession()
    SparkSession._instantiatedSession = session
    SparkSession._activeSession = session
    jvm = session._jvm
    jvm.SparkSession.setDefaultSession(session._jsparkSession)
    jvm.SparkSession.setActiveSession(session._jsparkSession)
    return session


def spark_alive(session: Any) -> bool:
    return session._sc._jsc is not None and not session._sc._jsc.sc().isStopped()


def forget_modules(before: set[str], roots: list[str]) -> list[str]:
    """Drop the modules a run imported from its own files (under ``roots``): the next run imports its own
    versions. Libraries it imported stay loaded, as in a Glue worker's environment."""
    prefixes = tuple(os.path.join(root, "") for root in roots if root) + tuple(roots)
    dropped = []
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        locations = [getattr(module, "__file__", None) or "", *list(getattr(module, "__path__", None) or [])]
        if any(location.startswith(prefixes) for location in locations if location):
            del sys.modules[name]
            dropped.append(name)
    for root in roots:
        sys.path_importer_cache.pop(root, None)
    importlib.invalidate_caches()
    return sorted(dropped)


class _ProcessState:
    """What a script may change in the interpreter, saved before a run and put back after it."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.path = list(sys.path)
        self.argv = list(sys.argv)
        self.environ = dict(os.environ)
        self.modules = set(sys.modules)
        root = logging.getLogger()
        self.handlers = list(root.handlers)
        self.level = root.level

    def restore(self, roots: list[str]) -> None:
        os.chdir(self.cwd)
        sys.path[:] = self.path
        sys.argv[:] = self.argv
        os.environ.clear()
        os.environ.update(self.environ)
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h not in self.handlers]:
            root.removeHandler(handler)
            with contextlib.suppress(Exception):
                handler.close()
        root.setLevel(self.level)
        forget_modules(self.modules, roots)


def serve(base: Any, request: dict[str, Any]) -> tuple[int, bool]:
    """Run one request's script in a fresh session; returns its exit code and whether the process can serve
    another run (the run succeeded and Spark is still up)."""
    saved = _ProcessState()
    session = fresh_session(base)
    code = 0
    try:
        _run_script(request)
    except SystemExit as exc:
        code = exit_code(exc)
    except BaseException:  # what the interpreter prints for an uncaught exception, and its exit status
        traceback.print_exc()
        code = 1
    roots = [str(Path(request["script"]).resolve().parent), *[str(p) for p in request.get("python_path", [])]]
    reusable = code == 0 and spark_alive(base)
    try:
        if reusable:
            session.catalog.clearCache()
            for rdd in list(base._jsc.getPersistentRDDs().values()):
                rdd.unpersist(False)
    except Exception as exc:  # a session that cannot clean up is not handed to another run
        print(f"glue warm worker: could not clear the run's caches: {type(exc).__name__}: {exc}", file=sys.stderr)
        reusable = False
    saved.restore(roots)
    return code, reusable


def end_of_run_line(code: int, reusable: bool) -> str:
    return f"{RUN_END_LINE} rc={code} reuse={int(reusable)}"


def parse_end_of_run(line: str) -> tuple[int, bool]:
    """(exit code, reusable) from an end-of-run line; a line without an exit code reads as a failure."""
    fields = dict(part.split("=", 1) for part in line[len(RUN_END_LINE) :].split() if "=" in part)
    return int(fields.get("rc", "1")), fields.get("reuse") == "1"


def _end_of_run(code: int, reusable: bool) -> None:
    line = end_of_run_line(code, reusable)
    for stream in (sys.stdout, sys.stderr):
        print(line, file=stream, flush=True)


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
    probe = jvm.org.apache.hadoop.fs.Path("s3a://glue-warm-worker-probe/probe")
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
    """argv: module names to import ahead of the first run (the jobs' --additional-python-modules)."""
    requests = _Requests()
    started = time.monotonic()
    # The job's extra modules (Great Expectations takes seconds) load while the JVM starts and warms up.
    failed: list[str] = []
    importer = threading.Thread(target=lambda: failed.extend(_import(argv)), name="warm-worker-imports", daemon=True)
    importer.start()
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    spark_up = time.monotonic() - started
    folder = Path(tempfile.mkdtemp(prefix="warm-up-", dir=os.getcwd()))
    steps = 0
    try:
        steps = warm_up(spark, folder, requests.pending)
    except Exception as exc:  # a warm-up that fails leaves a colder process, never a broken one
        print(f"glue warm worker: warm-up stopped early: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    finally:
        spark.catalog.clearCache()
        shutil.rmtree(folder, ignore_errors=True)
    importer.join()
    imported = len(argv) - len(failed)
    if not requests.pending():
        try:
            warm_aws(spark)
        except Exception as exc:
            print(f"glue warm worker: AWS warm-up skipped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    print(
        f"{READY_LINE}: Spark up in {spark_up:.1f} s, then {steps} warm-up steps and {imported} of {len(argv)} "
        f"module(s) imported in {time.monotonic() - started - spark_up:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    for served in range(1, MAX_RUNS + 1):
        line = requests.next()
        if not line:
            return 0
        code, reusable = serve(spark, json.loads(line))
        reusable = reusable and served < MAX_RUNS
        _end_of_run(code, reusable)
        if not reusable:
            return code
        print(f"{READY_LINE}: served {served} run(s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
