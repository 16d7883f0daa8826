"""Least privilege must still be enough: every AWS API call the code of a component makes is allowed by its role.

The calls are read from the source (`<client>.<operation>(` and `get_paginator("<operation>")`) of each
component: the Lambda handler plus the covid_pipeline modules it imports (transitively), or the Glue job folder.
An operation maps to its IAM action by name (put_object -> s3:PutObject), with the few S3 exceptions IAM has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.terraform_model import REPO_ROOT, TERRAFORM_DIR, Module, parse_module, statements, values

# IAM actions whose names differ from the operation's.
S3_ACTION_FOR = {
    "list_objects": "s3:ListBucket",
    "list_objects_v2": "s3:ListBucket",
    "head_object": "s3:GetObject",
    "head_bucket": "s3:ListBucket",
    "delete_objects": "s3:DeleteObject",
    "copy_object": "s3:PutObject",
}
IAM_PREFIX = {"s3": "s3", "glue": "glue", "sqs": "sqs", "sns": "sns", "cloudwatch": "cloudwatch"}
IAM_PREFIX["redshift-data"] = "redshift-data"
NOT_OPERATIONS = {"get_paginator", "can_paginate", "close", "get_waiter", "paginate"}
CALL = re.compile(r"(?:\bself\.)?\b(_?[A-Za-z0-9_]+(?:\(\))?)\.([a-z][a-z0-9_]*)\(")
PAGINATOR = re.compile(r"(?:\bself\.)?\b(_?[A-Za-z0-9_]+(?:\(\))?)\.get_paginator\(\s*\"([a-z0-9_]+)\"")
IMPORT = re.compile(r"from (covid_pipeline[\w.]*) import")


@dataclass(frozen=True)
class Component:
    policy_document: str
    sources: tuple[Path, ...]
    clients: dict[str, str]  # variable name in the code -> AWS service


def imported_modules(entry: Path) -> list[Path]:
    """entry plus every covid_pipeline module it imports, directly or through others (lazy imports included)."""
    seen: list[Path] = []
    pending = [entry]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.append(path)
        for module in IMPORT.findall(path.read_text()):
            base = REPO_ROOT / "src" / Path(*module.split("."))
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    pending.append(candidate)
    return seen


def required_actions(component: Component) -> set[str]:
    actions = set()
    for source in component.sources:
        text = source.read_text()
        calls = [*CALL.findall(text), *PAGINATOR.findall(text)]
        for variable, operation in calls:
            service = component.clients.get(variable)
            if service is None or operation in NOT_OPERATIONS:
                continue
            if service == "s3" and operation in S3_ACTION_FOR:
                actions.add(S3_ACTION_FOR[operation])
                if operation == "copy_object":
                    actions.add("s3:GetObject")
                continue
            camel = "".join(part.capitalize() for part in operation.split("_"))
            actions.add(f"{IAM_PREFIX[service]}:{camel}")
    return actions


def allowed_actions(module: Module, document_name: str) -> set[str]:
    document = module.data[("aws_iam_policy_document", document_name)]
    allowed = {action for statement in statements(document) for action in values(statement.get("actions", []))}
    for source in document.get("source_policy_documents", []):
        match = re.search(r"data\.aws_iam_policy_document\.(\w+)", str(source))
        assert match, source
        allowed |= allowed_actions(module, match.group(1))
    return allowed


def components() -> dict[str, Component]:
    lambda_dir = REPO_ROOT / "lambda"
    glue_dir = REPO_ROOT / "glue_job"
    found = {}
    handlers = {
        "s3-event-handler": ("s3_event_handler", {"s3": "s3", "glue": "glue", "sqs": "sqs"}),
        "data-quality-monitor": (
            "data_quality_monitor",
            {"s3": "s3", "glue": "glue", "sns": "sns", "cloudwatch": "cloudwatch"},
        ),
        "warehouse-loader": (
            "warehouse_loader",
            {"s3": "s3", "_s3": "s3", "glue": "glue", "cloudwatch": "cloudwatch", "_client": "redshift-data"},
        ),
    }
    for short, (module, clients) in handlers.items():
        entry = lambda_dir / f"{module}.py"
        if entry.is_file():
            found[short] = Component(module, tuple(imported_modules(entry)), clients)
    found["glue-job"] = Component(
        "glue_job",
        tuple(sorted(glue_dir.rglob("*.py"))),
        {"glue": "glue", "cloudwatch": "cloudwatch", "client": "s3", "_s3_client()": "s3"},
    )
    return found


@pytest.fixture(scope="module")
def root() -> Module:
    return parse_module(TERRAFORM_DIR)


@pytest.mark.parametrize("component", sorted(components()))
def test_role_allows_every_call_the_code_makes(root: Module, component: str) -> None:
    spec = components()[component]
    required = required_actions(spec)
    assert required, f"no AWS calls found for {component}: the scan is broken"
    if component == "warehouse-loader":
        # The Redshift statements exist only with enable_redshift; they are dynamic blocks, included here.
        assert any(action.startswith("redshift-data:") for action in required)
    missing = sorted(required - allowed_actions(root, spec.policy_document))
    assert not missing, f"{component}'s role lacks {missing} (called in {[p.name for p in spec.sources]})"


def test_the_scan_sees_known_calls() -> None:
    """Control for the regexes: calls the handler certainly makes are found."""
    handler = components()["s3-event-handler"]
    assert {"glue:StartJobRun", "s3:PutObject"} <= required_actions(handler)
