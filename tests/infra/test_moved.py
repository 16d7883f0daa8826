"""terraform/moved.tf keeps old states: the applied `test` state, written back to the addresses the configuration
had before each `moved` block (the four separate function blocks, the access-log bucket's root resources, the
modules' uncounted logging), plans against the current configuration with moves and no create or destroy.

The plan skips the refresh (-refresh=false): what is checked is that every old address has a home, not the
cloud. That an environment applied by the configuration before the moves plans with zero replacements was shown
once by applying that configuration to a local cloud and planning this one against it (the branch's report).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest

from covid_pipeline.config import load_config, local_tls_dir
from covid_pipeline.local.emulator import Emulator
from covid_pipeline.local.provision import LocalInfrastructure, local_warehouse_url
from covid_pipeline.terraform_cli import TerraformUnavailable
from tests.infra.test_terraform_source import MODULES, TERRAFORM_DIR

ENV = "test"
ADDRESS = re.compile(r'^((?:module\.[a-z_]+\.)*)([a-z0-9_]+)\.([a-z0-9_]+)(?:\[("[^"]+"|\d+)\])?$')


def moves(path: Path) -> list[tuple[str, str]]:
    """(from, to) of each moved block of a file."""
    with path.open() as handle:
        blocks = hcl2.load(handle).get("moved", [])
    return [(block["from"][2:-1], block["to"][2:-1]) for block in blocks]


def parse(address: str) -> tuple[str, str, str, Any]:
    """module path ("" or "module.x"), type, name, and index key (None, a string or a number) of an address."""
    match = ADDRESS.match(address)
    assert match, address
    module, kind, name, key = match.groups()
    return module.rstrip("."), kind, name, None if key is None else json.loads(key)


def move_back(state: dict[str, Any], old: str, new: str, module_scope: bool = False) -> None:
    """Put the instances at ``new`` back at ``old`` (in every module instance when ``module_scope``)."""
    old_module, old_type, old_name, old_key = parse(old)
    new_module, new_type, new_name, new_key = parse(new)
    for resource in list(state["resources"]):
        here = resource.get("module", "")
        if resource["mode"] != "managed" or (resource["type"], resource["name"]) != (new_type, new_name):
            continue
        if not module_scope and here != new_module:
            continue
        moving = [instance for instance in resource["instances"] if instance.get("index_key") == new_key]
        if not moving:
            continue
        resource["instances"] = [instance for instance in resource["instances"] if instance not in moving]
        if not resource["instances"]:
            state["resources"].remove(resource)
        target = {key: value for key, value in resource.items() if key not in ("instances", "each", "module")}
        target.update(type=old_type, name=old_name, instances=[])
        if module_scope and here:
            target["module"] = here
        elif old_module:
            target["module"] = old_module
        if old_key is not None:
            target["each"] = "map" if isinstance(old_key, str) else "list"
        for instance in moving:
            instance = {key: value for key, value in instance.items() if key != "index_key"}
            if old_key is not None:
                instance["index_key"] = old_key
            target["instances"].append(instance)
        state["resources"].append(target)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """A throwaway emulator for the plan's data sources (the caller identity); no resource is read."""
    running = Emulator(load_config(ENV).region, tls_dir=local_tls_dir())
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_a_state_at_the_old_addresses_plans_moves_and_no_replacement(
    provisioned_test_cloud: Path, emulator: Emulator, tmp_path: Path
) -> None:
    root_moves = moves(TERRAFORM_DIR / "moved.tf")
    module_moves = moves(MODULES / "secure_bucket" / "main.tf")
    state = json.loads((provisioned_test_cloud / "terraform.tfstate").read_text())
    old_state = copy.deepcopy(state)
    for old, new in root_moves:
        move_back(old_state, old, new)
    for old, new in module_moves:
        move_back(old_state, old, new, module_scope=True)
    old_state["serial"] += 1
    state_dir = tmp_path / ENV
    state_dir.mkdir()
    (state_dir / "terraform.tfstate").write_text(json.dumps(old_state))
    assert emulator.ca_bundle is not None
    infrastructure = LocalInfrastructure(
        load_config(ENV), state_dir, emulator.endpoint_url, emulator.ca_bundle, local_warehouse_url(state_dir), _none
    )
    workspace = infrastructure.workspace()
    try:
        workspace.init()
    except TerraformUnavailable as exc:
        pytest.skip(str(exc))
    plan_file = state_dir / "moved.tfplan"
    workspace.plan(plan_file, "-refresh=false")
    plan = workspace.show_json(plan_file)
    shutil.rmtree(workspace.workdir / ".terraform", ignore_errors=True)

    actions = {change["address"]: change["change"]["actions"] for change in plan["resource_changes"]}
    assert not {address: done for address, done in actions.items() if {"create", "delete"} & set(done)}
    moved = {change["previous_address"] for change in plan["resource_changes"] if change.get("previous_address")}
    data_buckets = ("raw", "processed", "quarantine", "scripts", "cloudtrail")
    expected = {old for old, _ in root_moves}
    expected |= {f"module.{bucket}_bucket.{old}" for bucket in data_buckets for old, _ in module_moves}
    assert moved == expected


def _none(service: str) -> object:
    raise RuntimeError(f"the plan calls no {service} API from Python")
