#!/usr/bin/env python3
"""Seed entry point: data quality results of the latest run or of a date (`covid-pipeline dq`).

python scripts/check_data_quality.py [--date YYYY-MM-DD] [--env dev] [--local] [--json]
"""

from __future__ import annotations

import sys

from _cli import forward

if __name__ == "__main__":
    raise SystemExit(forward("dq", sys.argv[1:]))
