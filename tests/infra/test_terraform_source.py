"""What a plan does not show about terraform/: the conventions of its source. Variable types (`terraform show -json`
leaves them out), the version pins and the committed lock file, and the reasons given for scanner skips and for
"*" resources. HCL is read with python-hcl2's parser; nothing is evaluated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from covid_pipeline.config import REPO_ROOT

TERRAFORM_DIR = REPO_ROOT / "terraform"
MODULES = TERRAFORM_DIR / "modules"
# The root, its modules and the secure_bucket example: each pins its own versions; terraform/local is an override.
PINNED_DIRS = [
    TERRAFORM_DIR,
    MODULES / "secure_bucket",
    MODULES / "tls_only_policy",
    MODULES / "secure_bucket" / "examples" / "complete",
]
MODULE_DIRS = [*PINNED_DIRS, TERRAFORM_DIR / "local"]
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def tf_files() -> list[Path]:
    return sorted(path for directory in MODULE_DIRS for path in directory.glob("*.tf"))


def load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return dict(hcl2.load(handle))


def unquote(value: Any) -> Any:
    # python-hcl2 keeps the quotes of string literals.
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@pytest.mark.parametrize("module_dir", MODULE_DIRS, ids=lambda path: path.name)
def test_every_variable_has_a_type(module_dir: Path) -> None:
    declared = 0
    for path in sorted(module_dir.glob("*.tf")):
        for block in load(path).get("variable", []):
            for name, spec in block.items():
                declared += 1
                assert spec.get("type"), f"{path.name}: variable {unquote(name)} has no type"
    assert declared > 0


@pytest.mark.parametrize("module_dir", PINNED_DIRS, ids=lambda path: path.name)
def test_versions_pin_terraform_and_the_aws_provider(module_dir: Path) -> None:
    (terraform,) = load(module_dir / "versions.tf")["terraform"]
    assert unquote(terraform["required_version"]) == ">= 1.5.0"
    (providers,) = terraform["required_providers"]
    pins = {
        name: {key: unquote(value) for key, value in spec.items()}
        for name, spec in providers.items()
        if not name.startswith("__")  # python-hcl2's own markers
    }
    assert pins == {"aws": {"source": "hashicorp/aws", "version": "~> 5.80"}}


def test_the_lock_file_pins_aws_5_100_0_and_nothing_else() -> None:
    lock = load(TERRAFORM_DIR / ".terraform.lock.hcl")
    providers = {unquote(name): spec for block in lock["provider"] for name, spec in block.items()}
    assert set(providers) == {"registry.terraform.io/hashicorp/aws"}
    aws = providers["registry.terraform.io/hashicorp/aws"]
    assert unquote(aws["version"]) == "5.100.0"
    assert unquote(aws["constraints"]) == "~> 5.80"
    assert aws["hashes"], "the lock must record the provider's checksums"


def test_the_archive_provider_is_gone() -> None:
    for path in [*tf_files(), TERRAFORM_DIR / ".terraform.lock.hcl"]:
        text = path.read_text()
        assert "hashicorp/archive" not in text and "archive_file" not in text, path.name


def test_every_checkov_skip_names_a_check_and_gives_a_reason_in_words() -> None:
    skips = 0
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if not match:
                continue
            skips += 1
            check, reason = match.group(1), (match.group(2) or "").strip()
            assert re.fullmatch(r"CKV2?_AWS_\d+", check), f"{path.name}:{number}: {check} is not a checkov AWS id"
            assert len(re.findall(r"[A-Za-z]{2,}", reason)) >= 6, f"{path.name}:{number}: skip {check} needs a reason"
    assert skips > 0


def test_every_star_resource_is_on_its_own_line_under_a_comment_saying_why() -> None:
    """The plan tests check which statements have a "*" resource; this checks each says why, where it is written."""
    found = 0
    for path in tf_files():
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if '"*"' not in line or not re.match(r"\s*resources\s*=", line):
                continue
            found += 1
            assert line.strip() == 'resources = ["*"]', f"{path.name}:{number + 1}: keep a '*' resource on its own"
            comment = " ".join(
                previous.strip().lstrip("#").strip()
                for previous in lines[max(0, number - 3) : number]
                if previous.strip().startswith("#")
            )
            assert len(comment.split()) >= 5, f"{path.name}:{number + 1}: a '*' resource needs a comment saying why"
    assert found == 11  # the two CloudTrail statements of the key policy (kms.tf) included


def test_the_loader_reads_its_own_secret_never_the_master_users() -> None:
    """The loader's role and its warehouse URL name the loader user's secret (redshift.tf); the master user's
    secret is only for `covid-pipeline warehouse-bootstrap`, run by an operator."""
    for name in ("iam.tf", "lambda.tf"):
        text = (TERRAFORM_DIR / name).read_text()
        assert "master_password_secret_arn" not in text, name
        assert "aws_secretsmanager_secret.warehouse_loader[0].arn" in text, name
