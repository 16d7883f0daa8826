"""Seed entry point: the end-to-end flow on the local cloud of an environment (= `covid-pipeline --env ENV demo`).

python tests/integration_test.py --environment dev
"""

from __future__ import annotations

import argparse
import sys

from covid_pipeline.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environment", default="dev")
    args = parser.parse_args(argv)
    return cli_main(["--env", args.environment, "demo"])


if __name__ == "__main__":
    sys.exit(main())
