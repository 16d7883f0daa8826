#!/usr/bin/env python3
"""Seed entry point: estimated cost per run and per day, plus S3 storage (`covid-pipeline cost`).

python scripts/cost_analysis.py [--start-date YYYY-MM-DD] [--env dev] [--local] [--json]
"""

from __future__ import annotations

import sys

from _cli import forward

if __name__ == "__main__":
    raise SystemExit(forward("cost", sys.argv[1:]))
