"""getResolvedOptions: a job's ``--name value`` arguments, as AWS documents it.

The options asked for are required; Glue's reserved arguments (``--JOB_ID``, ``--JOB_RUN_ID``, ``--TempDir``,
``--job-bookmark-option``, ...) are always resolved, None when absent; anything else on the command line is
ignored. A missing required option raises GlueArgumentError.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

# Reserved arguments: (flag, key in the result, default).
_RESERVED = (
    ("--job-bookmark-option", "job_bookmark_option", "job-bookmark-disable"),
    ("--job-bookmark-from", "job_bookmark_from", None),
    ("--job-bookmark-to", "job_bookmark_to", None),
    ("--JOB_ID", "JOB_ID", None),
    ("--JOB_RUN_ID", "JOB_RUN_ID", None),
    ("--SECURITY_CONFIGURATION", "SECURITY_CONFIGURATION", None),
    ("--encryption-type", "encryption_type", None),
    ("--enable-metrics", "enable_metrics", None),
    ("--RedshiftTempDir", "RedshiftTempDir", None),
    ("--TempDir", "TempDir", None),
)
BOOKMARK_OPTIONS = ("job-bookmark-enable", "job-bookmark-disable", "job-bookmark-pause")


class GlueArgumentError(Exception):
    """A required job argument is missing, or a reserved one has a value Glue does not accept."""


class GlueArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise GlueArgumentError(message)


def getResolvedOptions(args: Sequence[str], options: Sequence[str]) -> dict[str, Any]:
    """``args`` is ``sys.argv`` (its first item, the script, is skipped); ``options`` the names wanted."""
    parser = GlueArgumentParser(add_help=False, allow_abbrev=False)
    reserved_keys = set()
    for flag, key, default in _RESERVED:
        choices = BOOKMARK_OPTIONS if key == "job_bookmark_option" else None
        parser.add_argument(flag, dest=key, default=default, required=False, choices=choices)
        reserved_keys |= {key, flag[2:]}
    for option in options:
        if option in reserved_keys:
            continue
        parser.add_argument(f"--{option}", dest=option, required=True)
    parsed, _unknown = parser.parse_known_args(list(args)[1:])
    return vars(parsed)
