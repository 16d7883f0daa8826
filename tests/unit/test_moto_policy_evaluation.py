"""Policy evaluation as IAM does it (the moto patch): conditions with the request's context, neutral when a
statement does not apply, whatever its Effect."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from covid_pipeline.local import moto_patches
from covid_pipeline.local.moto_patches import REQUEST_CONTEXT, RequestContext, condition_holds, statement_result

moto_patches.install()

BUCKET = "arn:aws:s3:::covid-pipeline-dev-raw"
OBJECT = f"{BUCKET}/raw/jhu_daily/01-22-2020.csv"
CALLER = "arn:aws:iam::123456789012:root"
TLS_ONLY: dict[str, Any] = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": ["s3:GetObject", "s3:PutObject"],
    "Resource": [BUCKET, f"{BUCKET}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
}


@pytest.mark.parametrize(
    ("secure", "expected"),
    [(True, PermissionResult.NEUTRAL), (False, PermissionResult.DENIED)],
)
def test_the_tls_only_deny_applies_to_plain_http_only(secure: bool, expected: PermissionResult) -> None:
    context = {"aws:securetransport": "true" if secure else "false"}
    assert statement_result(TLS_ONLY, "s3:GetObject", OBJECT, CALLER, context) == expected


def test_an_allow_whose_condition_fails_is_neutral_not_a_deny() -> None:
    allow = {**TLS_ONLY, "Effect": "Allow", "Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}}}
    assert statement_result(allow, "s3:GetObject", OBJECT, CALLER, {}) == PermissionResult.NEUTRAL


def test_a_service_principal_never_names_an_api_caller() -> None:
    grant = {"Effect": "Deny", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
             "Resource": f"{BUCKET}/*"}  # fmt: skip
    assert statement_result(grant, "s3:PutObject", OBJECT, CALLER, {}) == PermissionResult.NEUTRAL
    own_account = {**grant, "Principal": {"AWS": "123456789012"}}
    assert statement_result(own_account, "s3:PutObject", OBJECT, CALLER, {}) == PermissionResult.DENIED


def test_actions_match_case_insensitively_with_wildcards_and_resources_exactly() -> None:
    statement = {**TLS_ONLY, "Action": "S3:Get*", "Condition": {}}
    assert statement_result(statement, "s3:GetObject", OBJECT, CALLER, {}) == PermissionResult.DENIED
    other_bucket = "arn:aws:s3:::covid-pipeline-dev-raw2/x"
    assert statement_result(statement, "s3:GetObject", other_bucket, CALLER, {}) == PermissionResult.NEUTRAL


@pytest.mark.parametrize(
    ("operator", "key", "expected", "context", "holds"),
    [
        ("Bool", "aws:SecureTransport", "false", {"aws:securetransport": "false"}, True),
        ("Bool", "aws:SecureTransport", "false", {}, False),  # a missing key never matches...
        ("BoolIfExists", "aws:SecureTransport", "false", {}, True),  # ...unless IfExists
        ("StringNotEquals", "aws:SourceAccount", "1", {}, True),  # ...and a negated operator holds
        ("Null", "aws:SourceArn", "true", {}, True),
        ("Null", "aws:SourceArn", "false", {}, False),
        ("StringEquals", "aws:SourceAccount", ["1", "2"], {"aws:sourceaccount": "2"}, True),
        ("StringLike", "aws:SourceArn", "arn:*:s3:::raw-?", {"aws:sourcearn": "arn:aws:s3:::raw-1"}, True),
        ("ArnLike", "aws:SourceArn", "arn:aws:s3:::covid-*", {"aws:sourcearn": "arn:aws:s3:::covid-raw"}, True),
        ("ArnEquals", "aws:SourceArn", "arn:aws:sqs:*:1:q", {"aws:sourcearn": "arn:aws:sqs:us-east-1:2:q"}, False),
        ("NumericLessThan", "s3:max-keys", "10", {"s3:max-keys": "9"}, True),
        (
            "DateGreaterThan",
            "aws:CurrentTime",
            "2020-01-01T00:00:00Z",
            {"aws:currenttime": "2026-12-01T00:00:00Z"},
            True,
        ),
        ("IpAddress", "aws:SourceIp", "127.0.0.0/8", {"aws:sourceip": "127.0.0.1"}, True),
        ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:sourceip": "127.0.0.1"}, True),
        ("ForAllValues:StringEquals", "aws:TagKeys", "a", {}, True),
        ("NoSuchOperator", "aws:SourceIp", "x", {"aws:sourceip": "x"}, False),
    ],
)
def test_condition_operators(operator: str, key: str, expected: Any, context: dict[str, str], holds: bool) -> None:
    assert condition_holds(operator, key, expected, context) is holds


def test_moto_policies_read_the_request_context() -> None:
    policy = IAMPolicy('{"Version": "2012-10-17", "Statement": [' + json.dumps(TLS_ONLY) + "]}")
    for secure, expected in ((True, PermissionResult.NEUTRAL), (False, PermissionResult.DENIED)):
        token = REQUEST_CONTEXT.set(RequestContext(secure_transport=secure, source_ip="127.0.0.1", account_id="1"))
        try:
            assert policy.is_action_permitted("s3:PutObject", OBJECT) == expected
        finally:
            REQUEST_CONTEXT.reset(token)
