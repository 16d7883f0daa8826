"""What every command module shares: the AWS session of a command, JSON and table output, common arguments.

A leaf of covid_pipeline.commands (it imports no command module), so command modules can use each other's read
functions without an import cycle.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import boto3

from covid_pipeline.config import SOURCES, PipelineConfig, load_config


@contextmanager
def _session(args: argparse.Namespace) -> Iterator[tuple[PipelineConfig, boto3.Session]]:
    from covid_pipeline.local.session import aws_session_for

    config = load_config(args.env)
    with aws_session_for(config, local=getattr(args, "local", False)) as session:
        yield config, session


def _orchestrator(config: PipelineConfig, session: boto3.Session) -> Any:
    from covid_pipeline.orchestrator import Orchestrator

    return Orchestrator(config, session)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=_json_default, sort_keys=False))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """A plain aligned text table (numbers right-aligned by column index)."""
    cells = [[("" if value is None else str(value)) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def _duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return "-" if value is None else str(value)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _short_id(run_id: str) -> str:
    return run_id if len(run_id) <= 20 else run_id[:20] + "…"


def _add_common(parser: argparse.ArgumentParser, json_output: bool = True) -> None:
    parser.add_argument("--local", action="store_true", help="use the local cloud (started for the command if needed)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def _source_arg(parser: argparse.ArgumentParser, default: str | None = "jhu_daily") -> None:
    parser.add_argument("--source", choices=SOURCES, default=default, help=f"data source (default: {default or 'all'})")
