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

# Modules that define register(subparsers), one per command group.
COMMAND_MODULES = ("covid_pipeline.commands.local", "covid_pipeline.commands.ops", "covid_pipeline.commands.ingest")


class CommandModuleError(ImportError):
    """A command module did not import: the CLI refuses to start without it rather than lose its commands."""


def build_parser(command_modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="covid-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help=f"environment: config/<env>.tfvars ({', '.join(ENVIRONMENTS)})")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise CommandModuleError(f"command module {name} failed to import: {type(exc).__name__}: {exc}") from exc
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
