"""Seed entry point: start the pipeline's Glue job and follow it (`covid-pipeline run`).

    python src/pipeline_orchestrator.py --job-name covid-transform [--env dev] [--source jhu_daily] [--arg K=V ...]

`--job-name` is checked against the environment's job (config/<env>.tfvars names it); everything
else is the CLI's `run` command, which this only forwards to.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from covid_pipeline.cli import main as cli_main
from covid_pipeline.config import ConfigError, load_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job-name", required=True, help="the Glue job: full name or the tfvars glue_job_name")
    parser.add_argument("--env", default=None)
    known, rest = parser.parse_known_args(argv)
    try:
        config = load_config(known.env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if known.job_name not in {config.names.glue_job, config["glue_job_name"]}:
        print(
            f"error: unknown job {known.job_name!r} in {config.environment} (it is {config.names.glue_job})",
            file=sys.stderr,
        )
        return 2
    return cli_main(["--env", config.environment, "run", *rest])


if __name__ == "__main__":
    raise SystemExit(main())
