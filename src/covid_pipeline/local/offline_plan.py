"""Plan environments with the real AWS provider against a throwaway emulator: no AWS account, no network.

    python -m covid_pipeline.local.offline_plan OUT_DIR [ENV ...]

For each environment (default: all of config/*.tfvars): `terraform validate`, then `terraform plan` of terraform/ +
terraform/local/ against a fresh emulator in this process, written as ``OUT_DIR/<env>.json`` (`terraform show -json`
of the plan) with the validate output in ``OUT_DIR/<env>.validate.txt``. The tests read these files: the planned
resources, their arguments and the outputs are what `terraform apply` would create, here and on AWS.

The emulator lives in this process, so run it as its own process beside anything else that holds one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from covid_pipeline import artifacts
from covid_pipeline.config import ENVIRONMENTS, load_config, local_tls_dir
from covid_pipeline.errors import UserError
from covid_pipeline.local.emulator import Emulator
from covid_pipeline.local.provision import LocalInfrastructure, local_warehouse_url


def plan_environments(out_dir: Path, environments: list[str], build_dir: Path = artifacts.DEFAULT_BUILD_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts.build(build_dir)
    emulator = Emulator(load_config(environments[0]).region, tls_dir=local_tls_dir())
    endpoint = emulator.start()
    try:
        with tempfile.TemporaryDirectory(prefix="offline-plan-") as scratch:
            for environment in environments:
                started = time.monotonic()
                config = load_config(environment)
                state_dir = Path(scratch) / environment
                state_dir.mkdir()
                assert emulator.ca_bundle is not None
                infrastructure = LocalInfrastructure(
                    config,
                    state_dir,
                    endpoint,
                    emulator.ca_bundle,
                    local_warehouse_url(state_dir),
                    _no_client,
                    build_dir,
                )
                workspace = infrastructure.workspace()
                workspace.init()
                (out_dir / f"{environment}.validate.txt").write_text(workspace.validate())
                plan_file = state_dir / "plan.tfplan"
                workspace.plan(plan_file)
                document = workspace.show_json(plan_file)
                document["covid_pipeline_plan_seconds"] = round(time.monotonic() - started, 2)
                (out_dir / f"{environment}.json").write_text(json.dumps(document))
                print(f"{environment}: planned in {document['covid_pipeline_plan_seconds']:.1f} s", flush=True)
    finally:
        emulator.stop()


def _no_client(service: str) -> object:
    raise RuntimeError(f"planning calls no {service} API from Python")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m covid_pipeline.local.offline_plan", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("environments", nargs="*", default=list(ENVIRONMENTS))
    args = parser.parse_args(argv)
    try:
        plan_environments(args.out_dir, args.environments)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
