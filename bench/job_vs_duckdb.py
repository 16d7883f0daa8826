"""The Glue job against the DuckDB baseline on the full JHU set, then a one-day increment (= run_all --only ...).

    python -m bench.job_vs_duckdb [--repeats 3]

Each figure is a median over --repeats runs, measured side by side in this run; see bench/job_bench.py.
"""

from __future__ import annotations

import sys

from bench import run_all

if __name__ == "__main__":
    sys.exit(run_all.main(["--only", "job,incremental", *sys.argv[1:]]))
