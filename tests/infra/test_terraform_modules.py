"""The reusable modules under terraform/modules/ as a caller meets them: the secure_bucket example is a whole
configuration that `terraform validate`s with the pinned provider, and the module's README documents exactly its
variables and outputs. (What the pipeline's own calls plan to: test_plan_security.py.)"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import hcl2
import pytest

from covid_pipeline.terraform_cli import TerraformUnavailable, Workspace
from tests.infra.test_terraform_source import MODULES, load, unquote

SECURE_BUCKET = MODULES / "secure_bucket"


def declared(module_dir: Path, kind: str) -> set[str]:
    """Names of the variables or outputs a module declares."""
    return {unquote(name) for path in module_dir.glob("*.tf") for block in load(path).get(kind, []) for name in block}


def test_the_secure_bucket_example_validates(tmp_path: Path) -> None:
    # A copy, so that init writes its .terraform/ and lock file outside the repository; the example's
    # `source = "../.."` still finds the module (and the module its ../tls_only_policy).
    shutil.copytree(MODULES, tmp_path / "modules")
    example = Workspace(workdir=tmp_path / "modules" / "secure_bucket" / "examples" / "complete", environment="dev")
    try:
        example.run("init", "-backend=false", "-input=false", "-no-color")
    except TerraformUnavailable as exc:
        pytest.skip(str(exc))
    assert example.validate().strip() == "Success! The configuration is valid."


def test_the_example_uses_both_shapes_of_the_module() -> None:
    calls = {
        unquote(name): call
        for path in (SECURE_BUCKET / "examples" / "complete").glob("*.tf")
        for block in load(path).get("module", [])
        for name, call in block.items()
    }
    assert {name: unquote(call["source"]) for name, call in calls.items()} == {
        "access_logs_bucket": "../..",
        "data_bucket": "../..",
    }
    assert calls["access_logs_bucket"]["access_log_target"] is True
    assert "kms_key_arn" in calls["data_bucket"] and "access_log_bucket" in calls["data_bucket"]


@pytest.mark.parametrize("kind", ["variable", "output"])
def test_the_secure_bucket_readme_documents_every_input_and_output(kind: str) -> None:
    readme = (SECURE_BUCKET / "README.md").read_text()
    section = readme.split("## Inputs" if kind == "variable" else "## Outputs")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
    assert documented == declared(SECURE_BUCKET, kind)


def test_every_variable_of_the_secure_bucket_that_can_hurt_is_validated() -> None:
    with (SECURE_BUCKET / "variables.tf").open() as handle:
        variables = {unquote(name): spec for block in hcl2.load(handle)["variable"] for name, spec in block.items()}
    unvalidated = {name for name, spec in variables.items() if not spec.get("validation")}
    # A bool and a list of policy documents Terraform itself parses: nothing a validation could add.
    assert unvalidated == {"access_log_target", "force_destroy", "policy_documents"}
