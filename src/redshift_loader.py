"""Seed entry point: load the job's output into the warehouse (`covid-pipeline load`).

    python src/redshift_loader.py [--env dev] [--warehouse URL] [--partition year=2021/month=3 ...] [--json]

The seed loaded Redshift only; the URL picks the target: `redshift://<cluster>/<db>?secret_arn=...&iam_role=...`,
`postgresql://user@host:port/db`, or `duckdb:///path.duckdb` (the default: a local file). Everything is the CLI's
`load` command (covid_pipeline.warehouse.load_partitions), which this only forwards to.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

# Running from a checkout without `pip install -e .`: make the package importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from covid_pipeline.cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    global_args: list[str] = []
    if "--env" in args:  # the CLI wants --env before the command
        index = args.index("--env")
        global_args, args = args[index : index + 2], args[:index] + args[index + 2 :]
    return cli_main([*global_args, "load", *args])


if __name__ == "__main__":
    raise SystemExit(main())
