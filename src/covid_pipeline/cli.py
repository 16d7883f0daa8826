"""`covid-pipeline`: the command line for running and operating the pipeline.

Each command group lives in its own module under covid_pipeline.commands and
registers its sub-commands here; this module only parses and dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from covid_pipeline.config import ENVIRONMENTS, ConfigError
from covid_pipeline.errors import UserError

# Modules under covid_pipeline.commands that define register(subparsers).
COMMAND_MODULES = ("local", "ops", "ingest")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="covid-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help=f"environment: config/<env>.tfvars ({', '.join(ENVIRONMENTS)})")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"covid_pipeline.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"covid_pipeline.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except (UserError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
