"""Plan environments with the real AWS provider against a throwaway emulator: no AWS account, no network.

    python -m covid_pipeline.local.offline_plan OUT_DIR [ENV ...]

`terraform validate` once (``OUT_DIR/validate.txt``), then for each environment (default: all of config/*.tfvars)
`terraform plan` of terraform/ + terraform/local/ against a fresh emulator in this process, written as
``OUT_DIR/<env>.json`` (`terraform show -json` of the plan), two at a time. The tests read these files: the planned
resources, their arguments and the outputs are what `terraform apply` would create, here and on AWS.

The emulator lives in this process, so run it as its own process beside anything else that holds one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from covid_pipeline import artifacts
from covid_pipeline.config import ENVIRONMENTS, load_config, local_tls_dir
from covid_pipeline.errors import UserError
from covid_pipeline.local.emulator import Emulator
from covid_pipeline.local.provision import LocalInfrastructure, local_warehouse_url
from covid_pipeline.terraform_cli import Workspace


def plan_environments(
    out_dir: Path, environments: list[str], build_dir: Path = artifacts.DEFAULT_BUILD_DIR, parallel: int = 2
) -> None:
    """Validate once (it does not depend on the var file), then plan the environments, ``parallel`` at a time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts.build(build_dir)
    emulator = Emulator(load_config(environments[0]).region, tls_dir=local_tls_dir())
    endpoint = emulator.start()
    assert emulator.ca_bundle is not None
    ca_bundle = emulator.ca_bundle

    def workspace(environment: str, scratch: Path) -> tuple[Workspace, Path]:
        state_dir = scratch / environment
        state_dir.mkdir()
        config = load_config(environment)
        infrastructure = LocalInfrastructure(
            config, state_dir, endpoint, ca_bundle, local_warehouse_url(state_dir), _no_client, build_dir
        )
        prepared = infrastructure.workspace()
        prepared.init()
        return prepared, state_dir

    def plan(environment: str, scratch: Path) -> float:
        started = time.monotonic()
        prepared, state_dir = workspace(environment, scratch)
        plan_file = state_dir / "plan.tfplan"
        prepared.plan(plan_file)
        document = prepared.show_json(plan_file)
        seconds = round(time.monotonic() - started, 2)
        document["covid_pipeline_plan_seconds"] = seconds
        (out_dir / f"{environment}.json").write_text(json.dumps(document))
        return seconds

    try:
        with tempfile.TemporaryDirectory(prefix="offline-plan-") as folder:
            scratch = Path(folder)
            (scratch / "validate").mkdir()
            validating, _ = workspace(environments[0], scratch / "validate")
            (out_dir / "validate.txt").write_text(validating.validate())
            with ThreadPoolExecutor(max_workers=parallel) as pool:
                timings = dict(zip(environments, pool.map(lambda env: plan(env, scratch), environments), strict=True))
            for environment, seconds in timings.items():
                print(f"{environment}: planned in {seconds:.1f} s", flush=True)
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
