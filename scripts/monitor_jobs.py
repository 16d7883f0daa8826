#!/usr/bin/env python3
"""Seed entry point: recent job runs with state, rows, DQ score and cost (`covid-pipeline runs`).

python scripts/monitor_jobs.py [--env dev] [--local] [--json] [--limit N] [--source S]
"""

from __future__ import annotations

import sys

from _cli import forward

if __name__ == "__main__":
    raise SystemExit(forward("runs", sys.argv[1:]))
