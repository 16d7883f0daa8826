"""IAM-style policy evaluation as AWS does it: statements apply only when action, resource, principal and every
condition match; conditions see the request's context."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from covid_pipeline.local.moto_patches.request_context import REQUEST_CONTEXT

log = logging.getLogger(__name__)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcards: * any run of characters, ? one character; nothing else is special."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals: the six ARN fields compared one by one, each with wildcards."""
    pattern_parts = pattern.split(":", 5)
    value_parts = value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(glob_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> dt.datetime | None:
    try:
        if re.fullmatch(r"\d+", text):
            return dt.datetime.fromtimestamp(int(text), dt.UTC)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        return None


def _ip_in(cidr: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def _compare(parse: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Callable[[str, str], bool]:
    def matches(expected: str, actual: str) -> bool:
        left, right = parse(actual), parse(expected)
        return left is not None and right is not None and test(left, right)

    return matches


# Operator -> (does one request value match one policy value, is the operator negated). AWS docs: "IAM JSON policy
# elements: Condition operators".
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda e, a: a == e, False),
    "StringNotEquals": (lambda e, a: a == e, True),
    "StringEqualsIgnoreCase": (lambda e, a: a.lower() == e.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda e, a: a.lower() == e.lower(), True),
    "StringLike": (lambda e, a: glob_match(e, a), False),
    "StringNotLike": (lambda e, a: glob_match(e, a), True),
    "NumericEquals": (_compare(_number, lambda a, e: a == e), False),
    "NumericNotEquals": (_compare(_number, lambda a, e: a == e), True),
    "NumericLessThan": (_compare(_number, lambda a, e: a < e), False),
    "NumericLessThanEquals": (_compare(_number, lambda a, e: a <= e), False),
    "NumericGreaterThan": (_compare(_number, lambda a, e: a > e), False),
    "NumericGreaterThanEquals": (_compare(_number, lambda a, e: a >= e), False),
    "DateEquals": (_compare(_date, lambda a, e: a == e), False),
    "DateNotEquals": (_compare(_date, lambda a, e: a == e), True),
    "DateLessThan": (_compare(_date, lambda a, e: a < e), False),
    "DateLessThanEquals": (_compare(_date, lambda a, e: a <= e), False),
    "DateGreaterThan": (_compare(_date, lambda a, e: a > e), False),
    "DateGreaterThanEquals": (_compare(_date, lambda a, e: a >= e), False),
    "Bool": (lambda e, a: a.lower() == e.lower(), False),
    "BinaryEquals": (lambda e, a: base64.b64encode(a.encode()).decode() == e, False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
}


def as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


def _values_for(key: str, context: Mapping[str, str]) -> list[str] | None:
    # Condition key names are case-insensitive; values are not.
    value = context.get(key.lower())
    return None if value is None else as_list(value)


def condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    """One operator/key pair of a Condition block, as IAM evaluates it."""
    expected_values = as_list(expected)
    actual = _values_for(key, context)
    if operator == "Null":
        # "true": the key must be absent; "false": present.
        return (actual is None) == (expected_values[0].lower() == "true")
    set_operator = ""
    for prefix in ("ForAllValues:", "ForAnyValue:"):
        if operator.startswith(prefix):
            set_operator, operator = prefix[:-1], operator[len(prefix) :]
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    known = _OPERATORS.get(operator)
    if known is None:
        # AWS refuses such a policy when it is put; moto stored it. A statement that cannot be evaluated does not
        # apply (it neither allows nor denies).
        log.warning("policy condition operator %r is not known; the statement does not apply", operator)
        return False
    matches, negated = known
    if actual is None:
        # A missing key: IfExists holds; otherwise a negated operator holds and any other fails. ForAllValues over
        # an empty set holds.
        return if_exists or negated or set_operator == "ForAllValues"

    def one(value: str) -> bool:
        hit = any(matches(candidate, value) for candidate in expected_values)
        return not hit if negated else hit

    if set_operator == "ForAllValues":
        return all(one(value) for value in actual)
    return any(one(value) for value in actual)


def conditions_hold(block: Mapping[str, Any] | None, context: Mapping[str, str]) -> bool:
    """Every operator, and every key under it, must hold (AND); the values of one key are alternatives (OR)."""
    for operator, keys in (block or {}).items():
        for key, expected in dict(keys).items():
            if not condition_holds(operator, key, expected, context):
                return False
    return True


def _principal_matches(element: Any, caller_arn: str | None) -> bool:
    """Does a Principal element name the caller? Service principals never name an API caller: the services act
    inside moto, whose deliveries are not evaluated against policies."""
    if element == "*":
        return True
    if caller_arn is None or not isinstance(element, Mapping):
        return False  # an anonymous caller is named by "*" only
    account = caller_arn.split(":")[4] if caller_arn.count(":") >= 5 else ""
    for entry in as_list(element.get("AWS", [])):
        if entry == "*" or entry == caller_arn:
            return True
        # An account (its id or its root ARN) names every principal of that account.
        if account and entry in (account, f"arn:aws:iam::{account}:root"):
            return True
    return False


def statement_result(
    statement: Mapping[str, Any], action: str, resource: str, principal: str | None, context: Mapping[str, str]
) -> Any:
    """PERMITTED/DENIED when the statement applies to the request (action, resource, principal and every condition
    match), NEUTRAL otherwise, whatever its Effect: a statement that does not apply neither allows nor denies."""
    from moto.iam.access_control import PermissionResult

    def any_match(element: Any, value: str, ignore_case: bool) -> bool:
        return any(glob_match(pattern, value, ignore_case) for pattern in as_list(element))

    if "NotAction" in statement:
        if any_match(statement["NotAction"], action, True):
            return PermissionResult.NEUTRAL
    elif not any_match(statement.get("Action", []), action, True):
        return PermissionResult.NEUTRAL
    if "NotResource" in statement:
        if any_match(statement["NotResource"], resource, False):
            return PermissionResult.NEUTRAL
    elif "Resource" in statement and not any_match(statement["Resource"], resource, False):
        return PermissionResult.NEUTRAL
    # No Principal element: an identity policy, which applies to whoever it is attached to.
    if "Principal" in statement and not _principal_matches(statement["Principal"], principal):
        return PermissionResult.NEUTRAL
    if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], principal):
        return PermissionResult.NEUTRAL
    if not conditions_hold(statement.get("Condition"), context):
        return PermissionResult.NEUTRAL
    return PermissionResult.DENIED if statement.get("Effect") == "Deny" else PermissionResult.PERMITTED


def patch_policy_evaluation() -> None:
    """AWS: a statement applies only when its action, resource, principal and every condition match; one that
    does not apply is neutral whatever its Effect, and conditions are evaluated against the request's context
    (aws:SecureTransport from the scheme). moto: a statement whose condition (or principal) does not match is
    DENIED even when its Effect is Allow, only StringEquals is evaluated (any other operator counts as holding),
    bucket policies get no condition values at all, and so the usual TLS-only Deny denies every request."""
    from moto.iam.access_control import IAMPolicyStatement

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        request = REQUEST_CONTEXT.get()
        context = request.condition_values() if request is not None else {}
        context.update({key.lower(): value for key, value in (incoming_condition_values or {}).items()})
        caller = principal or (request.caller_arn if request is not None else None)
        return statement_result(self._statement, action, resource, caller, context)

    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]
