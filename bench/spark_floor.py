"""Spark's floor: what a fresh PySpark process costs to read the job's input files and write them as Parquet.

No classification, deduplication, enrichment or quality gate: one all-text CSV
read per header layout and one Parquet write each, in a new process with the
job's Spark settings. The job cannot be faster than this; the benchmark quotes
it beside the DuckDB baseline so that the job's own overhead can be told from
Spark's.

    python bench/spark_floor.py <output_dir> <file> [<file> ...]
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

from pyspark.sql import SparkSession

sys.path.insert(0, str(Path(__file__).resolve().parent))

from duckdb_baseline import read_header


def run(output_dir: Path, files: list[Path]) -> dict[str, float | int]:
    started = time.perf_counter()
    spark = SparkSession.builder.appName("spark-floor").getOrCreate()
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in files:
        groups[tuple(read_header(path))].append(str(path.resolve()))
    for index, paths in enumerate(groups.values()):
        # header=true with no schema: every column is text, as the job reads it (no inference pass)
        frame = spark.read.option("header", "true").option("escape", '"').csv(paths)
        frame.write.mode("overwrite").parquet(str(output_dir / f"layout={index}"))
    rows = spark.read.parquet(str(output_dir)).count()
    spark.stop()
    return {"seconds": round(time.perf_counter() - started, 3), "rows": rows, "layouts": len(groups)}


if __name__ == "__main__":
    print(run(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]))
