"""Reading what Terraform itself wrote: `terraform show -json` of a plan, and a state file (format version 4).

Nothing here evaluates HCL: every value comes from Terraform and the AWS provider. A plan knows what the
configuration and the var file decide (names, sizes, settings); attributes that wait for apply (ARNs, key ids,
rendered policies) are null in ``values`` and ``true`` in the change's ``after_unknown``. For those, tests read the
applied state of the `test` environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"


def _modules(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield module
    for child in module.get("child_modules", []):
        yield from _modules(child)


def plan_resources(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Address -> planned resource (managed resources and data sources not yet read), every module included."""
    return {
        resource["address"]: resource
        for module in _modules(plan["planned_values"]["root_module"])
        for resource in module.get("resources", [])
    }


def planned(plan: dict[str, Any], address: str) -> dict[str, Any]:
    """The planned arguments (``values``) of one resource."""
    found = plan_resources(plan).get(address)
    if found is None:
        raise KeyError(f"{address} is not in the plan")
    return dict(found.get("values", {}))


def of_type(plan: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Address -> planned values of every managed resource of one type."""
    return {
        address: resource.get("values", {})  # absent when every argument waits for apply
        for address, resource in plan_resources(plan).items()
        if resource["mode"] == "managed" and resource["type"] == resource_type
    }


def after_unknown(plan: dict[str, Any], address: str) -> dict[str, Any]:
    """Which attributes of a planned change are only known after apply (``true``), e.g. an ARN it references."""
    for change in plan["resource_changes"]:
        if change["address"] == address:
            return dict(change["change"].get("after_unknown") or {})
    raise KeyError(f"{address} has no planned change")


def policy_documents(plan: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Address -> statements of every aws_iam_policy_document: the ones Terraform read while planning (all of their
    inputs known, in ``prior_state``) and the ones it reads at apply (in ``planned_values``, unknown parts null)."""
    documents: dict[str, list[dict[str, Any]]] = {}
    roots = [plan["planned_values"]["root_module"]]
    if plan.get("prior_state"):
        roots.append(plan["prior_state"]["values"]["root_module"])
    for root in roots:
        for module in _modules(root):
            for resource in module.get("resources", []):
                if resource["mode"] == "data" and resource["type"] == "aws_iam_policy_document":
                    documents[resource["address"]] = list(resource["values"].get("statement") or [])
    return documents


def configuration(plan: dict[str, Any], address: str) -> dict[str, Any]:
    """The configuration block Terraform parsed for a resource (its expressions and what they reference)."""
    module = plan["configuration"]["root_module"]
    parts = address.split(".")
    while parts[0] == "module":
        module = module["module_calls"][parts[1]]["module"]
        parts = parts[2:]
    wanted = ".".join(parts).split("[")[0]
    for resource in module.get("resources", []):
        if resource["address"] == wanted:
            return dict(resource)
    raise KeyError(f"{address} is not in the configuration")


def references(plan: dict[str, Any], address: str, *path: str | int) -> list[str]:
    """What one argument of a resource refers to, as Terraform parsed the configuration; ``path`` walks into
    blocks (``"rule", 0, "expiration", 0, "days"``)."""
    expression: Any = configuration(plan, address)["expressions"]
    for step in path:
        expression = expression[step]
    return list(expression.get("references", []))


# --- state --------------------------------------------------------------------------------------------------------


def state_instances(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Address -> attributes of every instance in a state document (``module.x.aws_y.z["key"]`` style addresses)."""
    found: dict[str, dict[str, Any]] = {}
    for resource in state.get("resources", []):
        prefix = f"{resource['module']}." if resource.get("module") else ""
        prefix += "data." if resource["mode"] == "data" else ""
        base = f"{prefix}{resource['type']}.{resource['name']}"
        for instance in resource.get("instances", []):
            key = instance.get("index_key")
            suffix = "" if key is None else f"[{json.dumps(key)}]"
            found[base + suffix] = instance["attributes"]
    return found


def resource_type(address: str) -> str:
    """The resource type of an address; "" for a data source."""
    parts = address.split(".")
    while parts[0] == "module":
        parts = parts[2:]
    return "" if parts[0] == "data" else parts[0]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def statements(policy: str) -> list[dict[str, Any]]:
    """A policy document's statements with Action, NotAction and Resource always lists."""
    document = json.loads(policy)
    result = []
    for statement in as_list(document.get("Statement")):
        normalised = dict(statement)
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in normalised:
                normalised[key] = as_list(normalised[key])
        result.append(normalised)
    return result
