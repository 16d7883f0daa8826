"""`python -m tests.provisioned_cloud ROOT`: the `test` environment's local cloud, provisioned by `terraform apply` in
ROOT/test and kept as its baseline (ROOT/test.provisioned), for the test session's clouds to start from.

Run in its own process, in the background while the unit tests run (tests/conftest.py): most of an apply is the AWS
provider's fixed waits, which cost no CPU, and moto's state is per process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from covid_pipeline.config import load_config
from covid_pipeline.local.cloud import LocalCloud
from covid_pipeline.local.provision import save_baseline

ENV = "test"


def main(root: Path) -> int:
    state_dir = root / ENV
    started = time.monotonic()
    with LocalCloud(load_config(ENV), state_dir=state_dir, run_lambdas=False, snapshot_interval_seconds=None) as cloud:
        report = cloud.provision_report
        assert report is not None
    save_baseline(state_dir)
    print(
        json.dumps({"applied": report.applied, "apply_seconds": report.seconds, "seconds": time.monotonic() - started})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
