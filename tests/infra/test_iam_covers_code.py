"""Least privilege must still be enough: every AWS API call the code of a component makes is allowed by the role
policy Terraform applied for it (the `test` environment's state: the policy JSON as IAM received it).

The calls are read from the source (`<client>.<operation>(` and `get_paginator("<operation>")`) of each
component: the Lambda handler plus the covid_pipeline modules it imports (transitively), or the Glue job folder.
An operation maps to its IAM action by name (put_object -> s3:PutObject), with the few S3 exceptions IAM has.
The warehouse loader's Redshift Data API statements exist only with enable_redshift, which `test` leaves off: they
are read from prod's plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline.config import REPO_ROOT
from tests.infra.code_scan import handler_file, imported_modules
from tests.infra.terraform_json import policy_documents, state_instances, statements

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


@dataclass(frozen=True)
class Component:
    role_policy: str  # its aws_iam_role_policy in the state
    sources: tuple[Path, ...]
    clients: dict[str, str]  # variable name in the code -> AWS service


def components() -> dict[str, Component]:
    handlers = {
        "s3-event-handler": {"s3": "s3", "glue": "glue", "sqs": "sqs"},
        "data-quality-monitor": {"s3": "s3", "glue": "glue", "sns": "sns", "cloudwatch": "cloudwatch"},
        "warehouse-loader": {
            "s3": "s3",
            "_s3": "s3",
            "glue": "glue",
            "cloudwatch": "cloudwatch",
            "_client": "redshift-data",
        },
    }
    found = {
        short: Component(
            f'aws_iam_role_policy.lambda["{short}"]', tuple(imported_modules(handler_file(short))), clients
        )
        for short, clients in handlers.items()
    }
    found["glue-job"] = Component(
        "aws_iam_role_policy.glue_job",
        tuple(sorted((REPO_ROOT / "glue_job").rglob("*.py"))),
        {"glue": "glue", "cloudwatch": "cloudwatch", "client": "s3", "_s3_client()": "s3"},
    )
    return found


def required_actions(component: Component) -> set[str]:
    actions = set()
    for source in component.sources:
        text = source.read_text()
        for variable, operation in [*CALL.findall(text), *PAGINATOR.findall(text)]:
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


def allowed_by(patterns: set[str], action: str) -> bool:
    # IAM action names match case-insensitively, with * wildcards ("kms:GenerateDataKey*").
    return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns)


def applied_allows(applied_state: dict[str, Any], role_policy: str) -> set[str]:
    policy = state_instances(applied_state)[role_policy]["policy"]
    return {action for s in statements(policy) if s["Effect"] == "Allow" for action in s["Action"]}


@pytest.mark.parametrize("component", sorted(components()))
def test_role_allows_every_call_the_code_makes(
    applied_state: dict[str, Any], planned_stacks: dict[str, dict[str, Any]], component: str
) -> None:
    spec = components()[component]
    required = required_actions(spec)
    assert required, f"no AWS calls found for {component}: the scan is broken"
    allowed = applied_allows(applied_state, spec.role_policy)
    if component == "warehouse-loader":
        assert {a for a in required if a.startswith("redshift-data:")}, "the loader's Data API calls were not found"
        document = policy_documents(planned_stacks["prod"])["data.aws_iam_policy_document.warehouse_loader"]
        allowed |= {action for statement in document for action in statement["actions"]}
    missing = sorted(action for action in required if not allowed_by(allowed, action))
    assert not missing, f"{component}'s role lacks {missing} (called in {[p.name for p in spec.sources]})"


def test_the_scan_sees_known_calls() -> None:
    """Control for the regexes: calls the handler certainly makes are found."""
    handler = components()["s3-event-handler"]
    assert {"glue:StartJobRun", "s3:PutObject", "sqs:SendMessage"} <= required_actions(handler)


def test_a_missing_permission_is_reported() -> None:
    """Control for the comparison: an action outside the allowed set (even beside a wildcard) is missing."""
    allowed = {"s3:GetObject", "kms:GenerateDataKey*"}
    assert allowed_by(allowed, "kms:GenerateDataKeyWithoutPlaintext")
    assert not allowed_by(allowed, "s3:PutObject")
