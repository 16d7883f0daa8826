#!/usr/bin/env python3
"""Generate synthetic JHU-style daily reports (+ UID lookup) and optionally upload them to the raw bucket.

    scripts/setup_sample_data.py --env dev [--out DIR] [--upload] [--seed N]

A thin wrapper over covid_pipeline.sample_data. With --upload the lookup goes to the environment's
reference path and each report to s3://<raw bucket>/raw/jhu_daily/<MM-DD-YYYY>.csv, through whatever
endpoint boto3 is pointed at (a running `covid-pipeline local up`, or AWS).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from covid_pipeline import sample_data
from covid_pipeline.config import ENVIRONMENTS, REPO_ROOT, ConfigError, load_config
from covid_pipeline.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev", choices=ENVIRONMENTS)
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the files (default .local/<env>/sample_data)"
    )
    parser.add_argument("--upload", action="store_true", help="upload to the raw bucket and the reference path")
    parser.add_argument("--seed", type=int, default=sample_data.DEFAULT_SEED)
    args = parser.parse_args(argv)

    config = load_config(args.env)
    out = args.out or REPO_ROOT / ".local" / args.env / "sample_data"
    dataset = sample_data.generate(out, seed=args.seed)
    print(f"wrote {len(dataset.files)} daily reports ({dataset.rows} rows) and the UID lookup to {out}")
    if args.upload:
        from covid_pipeline.local.session import aws_session_for

        with aws_session_for(config) as session:
            s3 = session.client("s3")
            print(f"uploaded {sample_data.upload_reference(config, dataset, s3)}")
            for uri in sample_data.upload_reports(config, dataset.files, s3):
                print(f"uploaded {uri}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (UserError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
