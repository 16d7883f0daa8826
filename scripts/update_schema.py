#!/usr/bin/env python3
"""Seed entry point: apply the job's schema contract to a Glue table (`covid-pipeline schema --update`).

    python scripts/update_schema.py --table jhu_daily|covid_jhu_daily [--env dev] [--local] [--json] [--show]

`--show` prints the schema and its versions without changing anything.
"""

from __future__ import annotations

import sys

from _cli import forward

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--show" in args:
        args.remove("--show")
    else:
        args.append("--update")
    raise SystemExit(forward("schema", args))
