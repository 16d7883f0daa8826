"""terraform/ parsed with python-hcl2 into a small model the infrastructure tests query.

Also the variable inputs of each environment: config/<env>.tfvars merged over the variables' defaults, which is
what Terraform would evaluate the configuration with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tests.infra.hcl_eval import Scope, evaluate_value, load_hcl, load_tfvars, unquote

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
CONFIG_DIR = REPO_ROOT / "config"
ENVIRONMENTS = ("dev", "staging", "prod", "test")


@dataclass
class Module:
    """The blocks of one Terraform module directory (all its .tf files merged)."""

    path: Path
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: body for (kind, name), body in self.resources.items() if kind == resource_type}

    def scope(self, variables: dict[str, Any]) -> Scope:
        return Scope(variables=variables, local_sources=self.locals)


def _labelled(blocks: list[dict[str, Any]], depth: int) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """python-hcl2 nests labelled blocks as {"label": {"label2": body}}: flatten to (labels, body)."""
    found: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    for block in blocks:
        for label, inner in block.items():
            if label.startswith("__"):
                continue
            if depth == 1:
                found.append(((unquote(label),), inner))
            else:
                for rest, body in _labelled([inner], depth - 1):
                    found.append(((unquote(label), *rest), body))
    return found


@cache
def parse_module(path: Path) -> Module:
    """Parsed once per test session (python-hcl2 is slow); callers only read the model."""
    module = Module(path=path)
    for tf_file in sorted(path.glob("*.tf")):
        module.texts[tf_file.name] = tf_file.read_text()
        parsed = load_hcl(tf_file)
        for labels, body in _labelled(parsed.get("resource", []), 2):
            module.resources[(labels[0], labels[1])] = body
        for labels, body in _labelled(parsed.get("data", []), 2):
            module.data[(labels[0], labels[1])] = body
        for labels, body in _labelled(parsed.get("variable", []), 1):
            module.variables[labels[0]] = body
        for labels, body in _labelled(parsed.get("output", []), 1):
            module.outputs[labels[0]] = body
        for labels, body in _labelled(parsed.get("module", []), 1):
            module.modules[labels[0]] = body
        for block in parsed.get("locals", []):
            module.locals.update({key: value for key, value in block.items() if not key.startswith("__")})
    return module


def all_module_dirs() -> list[Path]:
    """The root module and every local module below terraform/modules/."""
    return [TERRAFORM_DIR, *sorted(p for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir())]


def tf_files() -> list[Path]:
    """Every .tf file Terraform and checkov read from terraform/, including terraform/local/."""
    return sorted(TERRAFORM_DIR.rglob("*.tf"))


def variable_defaults(module: Module) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for name, spec in module.variables.items():
        if "default" in spec:
            defaults[name] = evaluate_value(spec["default"], Scope())
    return defaults


def environment_inputs(module: Module, environment: str) -> dict[str, Any]:
    """config/<env>.tfvars over the variables' defaults: the values Terraform evaluates with."""
    return {**variable_defaults(module), **load_tfvars(CONFIG_DIR / f"{environment}.tfvars")}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements of a policy document, including `dynamic "statement"` contents."""
    found = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        for label, body in dynamic.items():
            if unquote(label) == "statement":
                found.extend(body.get("content", []))
    return found


def values(attribute: Any) -> list[str]:
    return [unquote(item) for item in attribute] if isinstance(attribute, list) else [unquote(str(attribute))]
