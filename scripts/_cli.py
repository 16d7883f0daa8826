"""Shared by the seed scripts: forward to a `covid-pipeline` sub-command, keeping `--env` global."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

# Running from a checkout without `pip install -e .`: make the package importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from covid_pipeline.cli import main


def forward(command: str, argv: Sequence[str]) -> int:
    """`--env X` may come anywhere in argv; the CLI wants it before the command."""
    args = list(argv)
    global_args: list[str] = []
    for flag in ("--env",):
        for index, value in enumerate(args):
            if value == flag and index + 1 < len(args):
                global_args += [flag, args[index + 1]]
                del args[index : index + 2]
                break
            if value.startswith(f"{flag}="):
                global_args.append(value)
                del args[index]
                break
    return main([*global_args, command, *args])
