"""config/test_queries.sql timed on the warehouse targets, and one month straight on the Parquet (partition pruning)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow.dataset as ds

from bench.harness import REPO_ROOT, Result, repeat
from covid_pipeline.warehouse import load_partitions

QUERIES_FILE = REPO_ROOT / "config" / "test_queries.sql"


def read_queries(path: Path = QUERIES_FILE) -> list[tuple[str, str]]:
    """(title, sql) per statement; the title is the `-- N. ...` comment above it."""
    queries = []
    for block in path.read_text().split(";"):
        titles = re.findall(r"^--\s*(\d+\..*)$", block, flags=re.MULTILINE)
        sql = "\n".join(line for line in block.splitlines() if not line.strip().startswith("--")).strip()
        if sql:
            queries.append((titles[-1] if titles else sql[:40], sql))
    return queries


def warehouse_queries(output_dir: Path, warehouse_file: Path, repeats: int) -> list[Result]:
    """Load the job's output into a fresh DuckDB warehouse, then time every query (median of repeats)."""
    warehouse_file.unlink(missing_ok=True)
    load_partitions(str(output_dir), f"duckdb:///{warehouse_file}")
    results = []
    with duckdb.connect(str(warehouse_file), read_only=True) as connection:
        for title, sql in read_queries():
            measured = repeat(lambda sql=sql: connection.execute(sql).fetchall(), repeats)
            results.append(
                Result(
                    benchmark=f"query on DuckDB warehouse: {title}",
                    metric="wall time",
                    value=measured.median_seconds * 1000,
                    unit="ms",
                    runs=repeats,
                )
            )
    return results


def parquet_month_pruning(output_dir: Path, repeats: int, year: int = 2020, month: int = 3) -> list[Result]:
    """One month read straight from the Parquet: the hive filter keeps only that month's files."""
    dataset = ds.dataset(str(output_dir), format="parquet", partitioning="hive")
    month_filter = (ds.field("year") == year) & (ds.field("month") == month)
    all_files = len(list(dataset.get_fragments()))
    month_files = len(list(dataset.get_fragments(filter=month_filter)))
    columns = ["report_date", "country", "confirmed", "deaths"]
    one_month = repeat(lambda: dataset.to_table(columns=columns, filter=month_filter), repeats)
    everything = repeat(lambda: dataset.to_table(columns=columns), repeats)
    return [
        Result(
            benchmark=f"Parquet scan, {year}-{month:02d} only",
            metric="wall time",
            value=one_month.median_seconds * 1000,
            unit="ms",
            baseline="full scan",
            baseline_value=everything.median_seconds * 1000,
            ratio=one_month.median_seconds / everything.median_seconds,
            target="reads one partition",
            met=month_files < all_files,
            runs=repeats,
            notes=f"files read {month_files} of {all_files}",
        )
    ]
