"""Seed entry point: time the analyst queries of a SQL file against a warehouse (DuckDB file or PostgreSQL URL).

python tests/query_benchmark.py --queries config/test_queries.sql [--warehouse duckdb:///.local/dev/warehouse.duckdb]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.query_bench import read_queries  # noqa: E402


def _connect(url: str):  # type: ignore[no-untyped-def]
    if url.startswith("duckdb:///"):
        import duckdb

        path = Path(url.removeprefix("duckdb:///"))
        if not path.is_file():
            raise SystemExit(f"error: no warehouse at {path} (run `make demo` or `covid-pipeline load` first)")
        return duckdb.connect(str(path), read_only=True)
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        return psycopg.connect(url)
    raise SystemExit(f"error: unsupported warehouse URL {url!r} (duckdb:///path or postgresql://...)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, default=REPO_ROOT / "config" / "test_queries.sql")
    parser.add_argument("--warehouse", default=f"duckdb:///{REPO_ROOT / '.local' / 'dev' / 'warehouse.duckdb'}")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.queries.is_file():
        print(f"error: no query file {args.queries}", file=sys.stderr)
        return 2
    connection = _connect(args.warehouse)
    print(f"{'median ms':>10}  {'rows':>6}  query")
    for title, sql in read_queries(args.queries):
        timings, rows = [], 0
        for _ in range(args.repeats):
            started = time.perf_counter()
            rows = len(connection.execute(sql).fetchall())
            timings.append((time.perf_counter() - started) * 1000)
        print(f"{statistics.median(timings):>10.2f}  {rows:>6}  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
