"""Where moto answers differently from AWS in ways Terraform's provider or our runtimes notice: patched here.

Installed once per process by ``install()`` (the Emulator calls it). Each patch says, in its docstring, which AWS
behaviour it restores and which moto behaviour it replaces. They change moto's answers, never our configuration:
terraform/ is applied unchanged, and then planned with no change.

- Policies: statements apply only when action, resource, principal and every condition match (a non-matching one
  is neutral, whatever its Effect); conditions see the request's context (``aws:SecureTransport`` from the scheme
  the request came in on, put in a contextvar by ``RequestContextMiddleware``, a WSGI layer around moto's app).
  moto evaluates S3 bucket policies only (object requests, and here bucket listings too); it evaluates no SQS
  queue or SNS topic policy at all.
- S3: AccessDenied bodies; no access-log objects written per request; the logging permission check as AWS does;
  a key whose versions include a delete marker can be emptied; conditional writes (If-Match / If-None-Match)
  decided atomically with the write.
- SQS: SetQueueAttributes changes only what it is given; RedriveAllowPolicy; SSE-KMS reads back as such.
- CloudTrail: DescribeTrails by name or ARN, DeleteTrail by ARN.
- KMS rotation period; Budgets subscribers and tags; Lambda DeadLetterConfig/LoggingConfig; Glue ExecutionClass;
  Redshift parameter groups and cluster fields (availability status, nodes, managed master password, ...).
- What moto must not execute: Lambda functions (the local Lambda runtime does). Glue job runs are served by the
  local executor through glue_front.GlueActionMiddleware, in front of moto.

Not patched, because it is how the provider waits on AWS too: its fixed propagation checks (6 x 5 s per SQS queue
and queue policy, about 55 s per S3 lifecycle configuration, 3 x 5 x 1 s per KMS key). No answer ends them sooner.
"""

from __future__ import annotations

import base64
import contextvars
import datetime as dt
import ipaddress
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

_installed = False
_install_lock = threading.Lock()


# --- the request context ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestContext:
    """What AWS knows about a request when it evaluates a policy (the global condition keys we can know)."""

    secure_transport: bool
    source_ip: str
    account_id: str | None  # None: an unsigned (anonymous) request
    received: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def caller_arn(self) -> str | None:
        # The emulator's credentials are not an IAM user's: the caller is the account itself, as with root keys.
        return f"arn:aws:iam::{self.account_id}:root" if self.account_id else None

    def condition_values(self) -> dict[str, str]:
        values = {
            "aws:securetransport": "true" if self.secure_transport else "false",
            "aws:sourceip": self.source_ip,
            "aws:currenttime": self.received.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:epochtime": str(int(self.received.timestamp())),
        }
        if self.account_id and self.caller_arn:
            values.update({"aws:principalaccount": self.account_id, "aws:principalarn": self.caller_arn})
        return values


REQUEST_CONTEXT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "covid_pipeline_request_context", default=None
)
# The access key of a signed request: in the Authorization header, or in a presigned URL's query string.
_ACCESS_KEY = re.compile(r"Credential=([^/,\s%]+)(?:/|%2F)", re.IGNORECASE)


def _account_of(environ: Mapping[str, Any]) -> str | None:
    """The caller's account (moto's, for the access key), or None for an unsigned request."""
    from moto.iam.models import get_account_id_from

    signature = f"{environ.get('HTTP_AUTHORIZATION', '')} {environ.get('QUERY_STRING', '')}"
    match = _ACCESS_KEY.search(signature)
    return get_account_id_from(match.group(1)) if match else None


class RequestContextMiddleware:
    """Records each request's context for policy evaluation: the scheme it came in on (``wsgi.url_scheme``, which
    the emulator's listener sets per connection), its source address and the caller's account."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        context = RequestContext(
            secure_transport=environ.get("wsgi.url_scheme") == "https",
            source_ip=str(environ.get("REMOTE_ADDR") or "127.0.0.1"),
            account_id=_account_of(environ),
        )
        token = REQUEST_CONTEXT.set(context)
        try:
            # moto builds its whole answer inside this call (it returns a list, not a lazy iterator).
            return self.app(environ, start_response)
        finally:
            REQUEST_CONTEXT.reset(token)


# --- policy evaluation -----------------------------------------------------------------------------------------


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcards: * any run of characters, ? one character; nothing else is special."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals: the six ARN fields compared one by one, each with wildcards."""
    pattern_parts = pattern.split(":", 5)
    value_parts = value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(_glob(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


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
    "StringLike": (lambda e, a: _glob(e, a), False),
    "StringNotLike": (lambda e, a: _glob(e, a), True),
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


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


def _values_for(key: str, context: Mapping[str, str]) -> list[str] | None:
    # Condition key names are case-insensitive; values are not.
    value = context.get(key.lower())
    return None if value is None else _as_list(value)


def condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    """One operator/key pair of a Condition block, as IAM evaluates it."""
    expected_values = _as_list(expected)
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
    for entry in _as_list(element.get("AWS", [])):
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
        return any(_glob(pattern, value, ignore_case) for pattern in _as_list(element))

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


def _patch_policy_evaluation() -> None:
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


# S3 authorizes HEAD with s3:GetObject and POST (multipart create/complete) with s3:PutObject; moto derives the
# action from the HTTP method ("s3:HeadObject", "s3:PostObject"), which no policy names.
_S3_METHOD_ACTIONS = {"s3:HeadObject": "s3:GetObject", "s3:PostObject": "s3:PutObject"}
# Bucket-level reads a bucket policy governs, by the sub-resource of the GET (none: ListObjects/ListObjectsV2).
_S3_BUCKET_READ_ACTIONS = {"location": "s3:GetBucketLocation", "versions": "s3:ListBucketVersions",
                           "uploads": "s3:ListBucketMultipartUploads"}  # fmt: skip
# Query parameters of a plain listing (anything else is a sub-resource: policy, lifecycle, ...).
_S3_LIST_PARAMETERS = {"list-type", "prefix", "delimiter", "max-keys", "marker", "continuation-token",
                       "start-after", "encoding-type", "fetch-owner", "x-id"}  # fmt: skip


def _patch_s3_bucket_policy_enforcement() -> None:
    """AWS: a bucket policy's Deny answers 403 AccessDenied (an XML error body) to object requests, also to HEAD
    (authorized as s3:GetObject) and multipart POSTs (s3:PutObject), and governs ListBucket, GetBucketLocation,
    ListBucketVersions and ListBucketMultipartUploads too. moto answers a bare 403 with no body (boto3 reports
    the code "403"), asks the policy about "s3:HeadObject"/"s3:PostObject" (names no policy uses) and never
    evaluates bucket policies for bucket-level reads."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.exceptions import BucketAccessDeniedError, MissingBucket, S3AccessDeniedError
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    original_permission = FakeBucket.get_permission

    def get_permission(self: Any, action: str, resource: str) -> Any:
        return original_permission(self, _S3_METHOD_ACTIONS.get(action, action), resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]

    original_key_response = S3Response._key_response

    def _key_response(self: Any, request: Any, full_url: str) -> Any:
        response = original_key_response(self, request, full_url)
        if isinstance(response, tuple) and response[0] == 403 and not response[2]:
            raise S3AccessDeniedError()  # key_response serializes it as S3 does
        return response

    S3Response._key_response = _key_response  # type: ignore[method-assign]

    original_bucket_response = S3Response._bucket_response

    def _bucket_response(self: Any, request: Any, full_url: str) -> Any:
        if request.method == "GET":
            bucket_name = self.parse_bucket_name_from_url(request, full_url)
            query = set(self._get_querystring(request, full_url))
            sub_resources = query - _S3_LIST_PARAMETERS
            action = None
            if not sub_resources:
                action = "s3:ListBucket"
            elif len(sub_resources) == 1:
                action = _S3_BUCKET_READ_ACTIONS.get(next(iter(sub_resources)))
            if bucket_name and action is not None:
                try:
                    bucket = self.backend.get_bucket(bucket_name)
                except MissingBucket:
                    bucket = None
                if bucket is not None:
                    resource = f"arn:{bucket.partition}:s3:::{bucket_name}"
                    if bucket.get_permission(action, resource) == PermissionResult.DENIED:
                        raise BucketAccessDeniedError(bucket=bucket_name)
        return original_bucket_response(self, request, full_url)

    S3Response._bucket_response = _bucket_response  # type: ignore[method-assign]


def _patch_s3_access_log_delivery() -> None:
    """AWS: server access logs are delivered best effort, in batches, minutes to hours after the requests, and
    nothing in the pipeline reads them. moto writes one object per request into the target bucket (versioned here)
    synchronously, in the request: a Spark job's thousands of S3 requests would each add an object to memory and
    to every state snapshot. The logging configuration itself is still stored and read back."""
    from moto.s3.models import S3Backend

    def log_incoming_request(self: Any, request: Any, bucket_name: str) -> None:
        return None

    S3Backend.log_incoming_request = log_incoming_request  # type: ignore[method-assign]


# --- S3 conditional writes --------------------------------------------------------------------------------------

_S3_KEY_LOCKS = tuple(threading.Lock() for _ in range(64))


def _s3_key_lock(bucket: str, key: str) -> threading.Lock:
    """One of a fixed set of locks, by the key's hash: writes of one key are serialized, of others rarely."""
    return _S3_KEY_LOCKS[hash((bucket, key)) % len(_S3_KEY_LOCKS)]


def _patch_s3_conditional_writes_atomic() -> None:
    """AWS: a conditional PutObject or DeleteObject (If-Match: <etag>, If-None-Match: *) is decided atomically
    with the write: of two concurrent writers conditional on the same version, one succeeds and the other gets
    412 PreconditionFailed (or 409 ConditionalRequestConflict). moto 5.2 checks the header, then writes, in two
    steps, while its server answers requests on many threads: both writers could pass the check and both
    succeed, a lost update. Here every write of a key (conditional or not, as a plain PUT between the check and
    the write of a conditional one must fail it too) runs its check and write under that key's lock; the second
    writer then sees the first one's ETag and gets moto's own 412."""
    from moto.s3.responses import S3Response

    original_put, original_delete = S3Response.put_object, S3Response.delete_object

    def put_object(self: Any) -> Any:
        with _s3_key_lock(self.bucket_name, self.parse_key_name()):
            return original_put(self)

    def delete_object(self: Any) -> Any:
        with _s3_key_lock(self.bucket_name, self.parse_key_name()):
            return original_delete(self)

    S3Response.put_object = put_object  # type: ignore[method-assign]
    S3Response.delete_object = delete_object  # type: ignore[method-assign]


# --- S3 server access logging ------------------------------------------------------------------------------------


def _logging_grant_covers(statement: Mapping[str, Any], bucket_arn: str, prefix: str) -> bool:
    """Does one bucket-policy statement let the S3 logging service put log objects under ``prefix``?"""
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal", {})
    services = _as_list(principal.get("Service", [])) if isinstance(principal, Mapping) else []
    if principal != "*" and "logging.s3.amazonaws.com" not in services:
        return False
    if not any(_glob(pattern, "s3:PutObject", ignore_case=True) for pattern in _as_list(statement.get("Action", []))):
        return False
    # A log object's key is the target prefix followed by a timestamped name: the grant must cover such keys.
    sample_key = f"{bucket_arn}/{prefix}2026-01-01-00-00-00-0123456789ABCDEF"
    return any(_glob(pattern, sample_key) for pattern in _as_list(statement.get("Resource", [])))


def _patch_s3_logging_permission_check() -> None:
    """AWS: a target bucket with ACLs disabled (Object Ownership BucketOwnerEnforced, the default for new buckets)
    takes log deliveries only through its bucket policy, which S3 applies when it delivers: PutBucketLogging does
    not check it. Only a target that still uses ACLs must grant the log-delivery group (or the logging service,
    by a policy whose Resource covers the log objects, wildcards included). moto checks every target and accepts
    only three exact Resource strings, so ``arn:aws:s3:::logs/s3/*`` for the prefix ``s3/raw/`` (terraform/s3.tf)
    was refused with InvalidTargetBucketForLogging."""
    from moto.s3.models import FakeBucket

    def _log_permissions_enabled_policy(target_bucket: Any, target_prefix: str | None) -> bool:
        if target_bucket.ownership_rule in (None, "BucketOwnerEnforced"):
            return True
        if not target_bucket.policy:
            return False
        document = json.loads(target_bucket.policy.decode())
        bucket_arn = f"arn:{target_bucket.partition}:s3:::{target_bucket.name}"
        statements = document.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        return any(_logging_grant_covers(statement, bucket_arn, target_prefix or "") for statement in statements)

    FakeBucket._log_permissions_enabled_policy = staticmethod(_log_permissions_enabled_policy)  # type: ignore[method-assign]


# --- SQS queue attributes --------------------------------------------------------------------------------------


def _patch_sqs_queue_attributes() -> None:
    """AWS SetQueueAttributes changes only the attributes it is given, knows RedriveAllowPolicy, and reads back a
    queue encrypted with a KMS key as SqsManagedSseEnabled=false (SSE-KMS replaces SSE-SQS); RedrivePolicy comes
    back as compact JSON. moto: every SetQueueAttributes without a Policy deletes the queue's policy (so a
    redrive-allow policy set after the queue policy silently removed it), RedriveAllowPolicy is refused as an
    unknown attribute, and SqsManagedSseEnabled stays true next to a KMS key."""
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import Queue

    Queue.BASE_ATTRIBUTES = [*Queue.BASE_ATTRIBUTES, "RedriveAllowPolicy"]
    Queue.redrive_allow_policy = None  # type: ignore[attr-defined]
    original_set = Queue._set_attributes
    original_attributes = Queue.attributes

    def _set_attributes(self: Any, attributes: dict[str, Any], now: float | None = None) -> None:
        attributes = dict(attributes)
        creating = "_policy_json" not in self.__dict__  # Queue.__init__ sets it last
        if "RedriveAllowPolicy" in attributes:
            self.redrive_allow_policy = _redrive_allow_policy(
                attributes.pop("RedriveAllowPolicy"), InvalidParameterValue
            )
        if not creating and "Policy" not in attributes:
            attributes["Policy"] = self.policy  # kept, not deleted
        if attributes.get("KmsMasterKeyId"):
            # A KMS key means SSE-KMS, which replaces SSE-SQS (moto's creation defaults always say SSE-SQS).
            attributes["SqsManagedSseEnabled"] = False
        elif not creating and str(attributes.get("SqsManagedSseEnabled", "")).lower() == "true":
            attributes["KmsMasterKeyId"] = None  # and the other way round
        original_set(self, attributes, now)

    def attributes(self: Any) -> dict[str, Any]:
        result = dict(original_attributes.fget(self))  # type: ignore[attr-defined]
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        if self.redrive_allow_policy:
            result["RedriveAllowPolicy"] = self.redrive_allow_policy
        else:
            result.pop("RedriveAllowPolicy", None)
        return result

    Queue._set_attributes = _set_attributes  # type: ignore[method-assign]
    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]


def _redrive_allow_policy(value: Any, error: type[Exception]) -> str | None:
    """RedriveAllowPolicy as AWS stores it (compact JSON), after AWS's own checks."""
    if value in (None, ""):
        return None
    try:
        policy = json.loads(value) if isinstance(value, str) else dict(value)
    except (TypeError, ValueError):
        raise error("RedriveAllowPolicy is not valid JSON") from None
    permission = policy.get("redrivePermission")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise error("Value for parameter redrivePermission is invalid")
    sources = policy.get("sourceQueueArns")
    if permission == "byQueue" and not (isinstance(sources, list) and 1 <= len(sources) <= 10):
        raise error("Value for parameter sourceQueueArns is invalid: byQueue needs 1 to 10 queue ARNs")
    if permission != "byQueue" and sources:
        raise error("sourceQueueArns can only be set when redrivePermission is byQueue")
    return json.dumps(policy, separators=(",", ":"))


# --- KMS key rotation ------------------------------------------------------------------------------------------

DEFAULT_ROTATION_PERIOD_DAYS = 365


def _patch_kms_rotation_period() -> None:
    """AWS: EnableKeyRotation takes RotationPeriodInDays (90-2560, default 365) and GetKeyRotationStatus returns
    it with KeyId and NextRotationDate. moto ignores the period and returns only KeyRotationEnabled, so the
    provider reads rotation_period_in_days back as 0 and plans a change after every apply."""
    import time

    from moto.kms.exceptions import ValidationException
    from moto.kms.models import KmsBackend
    from moto.kms.responses import KmsResponse

    original_enable = KmsBackend.enable_key_rotation

    def enable_key_rotation(self: Any, key_id: str, rotation_period_in_days: int | None = None) -> None:
        period = DEFAULT_ROTATION_PERIOD_DAYS if rotation_period_in_days is None else int(rotation_period_in_days)
        if not 90 <= period <= 2560:
            raise ValidationException("RotationPeriodInDays must be between 90 and 2560")
        original_enable(self, key_id)
        key = self.keys[self.get_key_id(key_id)]
        key.rotation_period_in_days = period
        key.next_rotation_date = time.time() + period * 86400

    def enable_key_rotation_response(self: Any) -> str:
        key_id = self._get_param("KeyId")
        self._validate_cmk_id(key_id)
        self.kms_backend.enable_key_rotation(key_id, self._get_param("RotationPeriodInDays"))
        return json.dumps(None)

    def get_key_rotation_status_response(self: Any) -> str:
        key_id = self._get_param("KeyId")
        self._validate_cmk_id(key_id)
        key = self.kms_backend.keys[self.kms_backend.get_key_id(key_id)]
        status: dict[str, Any] = {"KeyId": key.id, "KeyRotationEnabled": bool(key.key_rotation_status)}
        if key.key_rotation_status:
            status["RotationPeriodInDays"] = getattr(key, "rotation_period_in_days", DEFAULT_ROTATION_PERIOD_DAYS)
            status["NextRotationDate"] = getattr(key, "next_rotation_date", time.time())
        return json.dumps(status)

    KmsBackend.enable_key_rotation = enable_key_rotation  # type: ignore[method-assign]
    KmsResponse.enable_key_rotation = enable_key_rotation_response  # type: ignore[method-assign]
    KmsResponse.get_key_rotation_status = get_key_rotation_status_response  # type: ignore[method-assign]


# --- Budgets -----------------------------------------------------------------------------------------------------


def _notification_key(notification: Mapping[str, Any]) -> tuple[str, str, float, str]:
    # The API identifies a notification by these four fields (ThresholdType defaults to PERCENTAGE).
    return (
        str(notification.get("NotificationType")),
        str(notification.get("ComparisonOperator")),
        float(notification.get("Threshold", 0)),
        str(notification.get("ThresholdType") or "PERCENTAGE"),
    )


def _patch_budgets_subscribers_and_tags() -> None:
    """AWS Budgets answers DescribeSubscribersForNotification, CreateSubscriber/DeleteSubscriber and the tagging
    calls (budgets are taggable: CreateBudget's ResourceTags, ListTagsForResource). moto answers 500 to all of
    them ("not implemented"), so the provider retried DescribeSubscribersForNotification until its timeout and
    aws_budgets_budget never finished; moto also dropped ResourceTags."""
    from moto.budgets.exceptions import NotFoundException
    from moto.budgets.models import BudgetsBackend
    from moto.budgets.responses import BudgetsResponse

    def budget_of(response: Any) -> Any:
        backend = response.backend
        account_id, name = response._get_param("AccountId"), response._get_param("BudgetName")
        budget = backend.budgets[account_id].get(name)
        if budget is None:
            raise NotFoundException(f"Unable to get budget: {name} - the budget doesn't exist.")
        return budget

    def notification_of(response: Any, budget: Any, field: str = "Notification") -> Any:
        wanted = _notification_key(response._get_param(field))
        for notification in budget.notifications:
            if _notification_key(notification.details) == wanted:
                return notification
        raise NotFoundException("Unable to find the notification - the notification doesn't exist.")

    def describe_subscribers_for_notification(self: Any) -> str:
        notification = notification_of(self, budget_of(self))
        return json.dumps({"Subscribers": list(notification.subscribers)})

    def create_subscriber(self: Any) -> str:
        notification = notification_of(self, budget_of(self))
        notification.subscribers = [*notification.subscribers, self._get_param("Subscriber")]
        return json.dumps({})

    def delete_subscriber(self: Any) -> str:
        notification = notification_of(self, budget_of(self))
        gone = self._get_param("Subscriber")
        notification.subscribers = [entry for entry in notification.subscribers if entry != gone]
        return json.dumps({})

    def update_subscriber(self: Any) -> str:
        notification = notification_of(self, budget_of(self))
        old, new = self._get_param("OldSubscriber"), self._get_param("NewSubscriber")
        notification.subscribers = [new if entry == old else entry for entry in notification.subscribers]
        return json.dumps({})

    def update_notification(self: Any) -> str:
        notification = notification_of(self, budget_of(self), "OldNotification")
        notification.details = self._get_param("NewNotification")
        return json.dumps({})

    def update_budget(self: Any) -> str:
        new = self._get_param("NewBudget")
        budget = self.backend.budgets[self._get_param("AccountId")].get(new["BudgetName"])
        if budget is None:
            raise NotFoundException(f"Unable to update budget: {new['BudgetName']} - the budget doesn't exist.")
        kept = {key: budget.budget[key] for key in ("TimePeriod",) if key in budget.budget and key not in new}
        budget.budget = {**new, **kept, "LastUpdatedTime": budget.budget.get("LastUpdatedTime")}
        return json.dumps({})

    def tag_store(backend: Any) -> dict[tuple[str, str], dict[str, str]]:
        # Budgets' tags, kept on the backend so that a reset of moto drops them with the budgets.
        store: dict[tuple[str, str], dict[str, str]] = backend.__dict__.setdefault("resource_tags", {})
        return store

    def tags_of(backend: Any, arn: str) -> dict[str, str]:
        # arn:aws:budgets::<account>:budget/<name>
        account_id, name = arn.split(":", 5)[4], arn.split("budget/", 1)[-1]
        if name not in backend.budgets[account_id]:
            raise NotFoundException(f"Unable to find the resource {arn}")
        return tag_store(backend).setdefault((account_id, name), {})

    def list_tags_for_resource(self: Any) -> str:
        tags = tags_of(self.backend, self._get_param("ResourceARN"))
        return json.dumps({"ResourceTags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]})

    def tag_resource(self: Any) -> str:
        tags = tags_of(self.backend, self._get_param("ResourceARN"))
        tags.update({tag["Key"]: tag["Value"] for tag in self._get_param("ResourceTags", [])})
        return json.dumps({})

    def untag_resource(self: Any) -> str:
        tags = tags_of(self.backend, self._get_param("ResourceARN"))
        for key in self._get_param("ResourceTagKeys", []):
            tags.pop(key, None)
        return json.dumps({})

    original_create = BudgetsResponse.create_budget

    def create_budget(self: Any) -> str:
        result = original_create(self)
        account_id, name = self._get_param("AccountId"), self._get_param("Budget")["BudgetName"]
        tags = self._get_param("ResourceTags") or []
        tag_store(self.backend)[(account_id, name)] = {tag["Key"]: tag["Value"] for tag in tags}
        return str(result)

    original_delete = BudgetsBackend.delete_budget

    def delete_budget(self: Any, account_id: str, budget_name: str) -> None:
        original_delete(self, account_id, budget_name)
        tag_store(self).pop((account_id, budget_name), None)

    for name, method in {
        "describe_subscribers_for_notification": describe_subscribers_for_notification,
        "create_subscriber": create_subscriber,
        "delete_subscriber": delete_subscriber,
        "update_subscriber": update_subscriber,
        "update_notification": update_notification,
        "update_budget": update_budget,
        "list_tags_for_resource": list_tags_for_resource,
        "tag_resource": tag_resource,
        "untag_resource": untag_resource,
        "create_budget": create_budget,
    }.items():
        setattr(BudgetsResponse, name, method)
    BudgetsBackend.delete_budget = delete_budget  # type: ignore[method-assign]


# --- Lambda function configuration ---------------------------------------------------------------------------------


def _default_logging_config(function_name: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """LoggingConfig as GetFunction returns it: Text to /aws/lambda/<name> unless set; JSON adds the log levels."""
    config: dict[str, Any] = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function_name}", **dict(given or {})}
    if config["LogFormat"] == "JSON":
        config.setdefault("ApplicationLogLevel", "INFO")
        config.setdefault("SystemLogLevel", "INFO")
    return config


def _patch_lambda_configuration() -> None:
    """AWS: GetFunction/GetFunctionConfiguration return the function's DeadLetterConfig (when set) and its
    LoggingConfig (always: Text to /aws/lambda/<name> by default), and UpdateFunctionConfiguration changes them.
    moto drops both, so the provider plans to add dead_letter_config and logging_config after every apply."""
    from moto.awslambda.models import LambdaFunction

    original_init = LambdaFunction.__init__
    original_configuration = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.dead_letter_config = spec.get("DeadLetterConfig") or None
        self.logging_config = _default_logging_config(self.function_name, spec.get("LoggingConfig"))

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = dict(original_configuration(self, *args, **kwargs))
        dead_letter = getattr(self, "dead_letter_config", None)
        if dead_letter and dead_letter.get("TargetArn"):
            config["DeadLetterConfig"] = dead_letter
        config["LoggingConfig"] = getattr(self, "logging_config", None) or _default_logging_config(
            self.function_name, None
        )
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = config_updates["DeadLetterConfig"] or None
        if "LoggingConfig" in config_updates:
            self.logging_config = _default_logging_config(self.function_name, config_updates["LoggingConfig"])
        return dict(original_update(self, config_updates))

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]


# --- Glue jobs ---------------------------------------------------------------------------------------------------


def _patch_glue_job_execution_class() -> None:
    """AWS GetJob leaves ExecutionClass out for a job created without one. moto always answers "STANDARD", which
    the provider (execution_class is not computed) plans to remove after every apply."""
    import inspect

    from moto.glue.models import FakeJob

    original_init = FakeJob.__init__
    original_as_dict = FakeJob.as_dict
    signature = inspect.signature(original_init)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        given = signature.bind(self, *args, **kwargs).arguments.get("execution_class")
        self.execution_class_given = bool(given)

    def as_dict(self: Any) -> dict[str, Any]:
        job = dict(original_as_dict(self))
        if not getattr(self, "execution_class_given", True):
            job.pop("ExecutionClass", None)
        return job

    FakeJob.__init__ = __init__  # type: ignore[method-assign]
    FakeJob.as_dict = as_dict  # type: ignore[method-assign]


def _patch_glue_update_job() -> None:
    """AWS UpdateJob overwrites the whole job definition with JobUpdate (the name, runs, tags and creation time
    stay). moto does not implement it, so a Terraform change to the job (a new timeout or argument in tfvars) failed
    to apply locally."""
    from moto.glue.exceptions import EntityNotFoundException
    from moto.glue.responses import GlueResponse

    fields: dict[str, tuple[str, Any]] = {
        "Description": ("description", None),
        "LogUri": ("log_uri", None),
        "Role": ("role", None),
        "ExecutionProperty": ("execution_property", {}),
        "Command": ("command", None),
        "DefaultArguments": ("default_arguments", {}),
        "NonOverridableArguments": ("non_overridable_arguments", None),
        "Connections": ("connections", None),
        "MaxRetries": ("max_retries", None),
        "AllocatedCapacity": ("allocated_capacity", None),
        "Timeout": ("timeout", None),
        "MaxCapacity": ("max_capacity", None),
        "SecurityConfiguration": ("security_configuration", None),
        "NotificationProperty": ("notification_property", None),
        "GlueVersion": ("glue_version", None),
        "NumberOfWorkers": ("number_of_workers", None),
        "WorkerType": ("worker_type", None),
        "CodeGenConfigurationNodes": ("code_gen_configuration_nodes", None),
        "SourceControlDetails": ("source_control_details", None),
    }

    def update_job(self: Any) -> str:
        from moto.core.utils import utcnow

        name = self._get_param("JobName")
        update = self._get_param("JobUpdate") or {}
        job = self.glue_backend.jobs.get(name)
        if job is None:
            raise EntityNotFoundException(f"Job {name} not found.")
        for key, (attribute, default) in fields.items():
            setattr(job, attribute, update.get(key, default))
        job.execution_class = update.get("ExecutionClass") or "STANDARD"
        job.execution_class_given = bool(update.get("ExecutionClass"))
        job.last_modified_on = utcnow()
        return json.dumps({"JobName": name})

    GlueResponse.update_job = update_job  # type: ignore[attr-defined]


# --- Redshift parameter groups ----------------------------------------------------------------------------------


def _patch_redshift_parameter_groups() -> None:
    """AWS: ModifyClusterParameterGroup sets parameters (ResetClusterParameterGroup puts them back) and
    DescribeClusterParameters reads them, Source "user" for the ones set, filtered by Source when asked. moto
    answers 500 to Modify/Reset ("not implemented") and always returns the engine defaults, so an
    aws_redshift_parameter_group with parameters (require_ssl, enable_user_activity_logging) never applied."""
    from moto.core.responses import ActionResult
    from moto.redshift.exceptions import ClusterParameterGroupNotFoundError, InvalidParameterValueError
    from moto.redshift.models import RedshiftBackend
    from moto.redshift.responses import RedshiftResponse

    def group_of(backend: Any, name: str) -> Any:
        group = backend.parameter_groups.get(name)
        if group is None:
            raise ClusterParameterGroupNotFoundError(name)
        return group

    def describe_cluster_parameters(self: Any, parameter_group_name: str, source: str | None = None) -> Any:
        user: dict[str, str] = getattr(group_of(self, parameter_group_name), "user_parameters", {})
        parameters = []
        for entry in self.describe_default_cluster_parameters():
            if entry["ParameterName"] in user:
                entry = {**entry, "ParameterValue": user[entry["ParameterName"]], "Source": "user"}
            if source is None or entry["Source"] == source:
                parameters.append(entry)
        return parameters

    def modify_cluster_parameter_group(self: Any) -> Any:
        name = self._get_param("ParameterGroupName")
        group = group_of(self.redshift_backend, name)
        known = self.redshift_backend.default_params
        user = group.__dict__.setdefault("user_parameters", {})
        for parameter in self._get_param("Parameters", []):
            parameter_name = parameter.get("ParameterName")
            if parameter_name not in known:
                raise InvalidParameterValueError(f"Could not find parameter with name: {parameter_name}")
            user[parameter_name] = str(parameter.get("ParameterValue", ""))
        return ActionResult(
            {"ParameterGroupName": name, "ParameterGroupStatus": "Your parameter group has been updated."}
        )

    def reset_cluster_parameter_group(self: Any) -> Any:
        name = self._get_param("ParameterGroupName")
        user = group_of(self.redshift_backend, name).__dict__.setdefault("user_parameters", {})
        if str(self._get_param("ResetAllParameters", "false")).lower() == "true":
            user.clear()
        for parameter in self._get_param("Parameters", []):
            user.pop(parameter.get("ParameterName"), None)
        return ActionResult(
            {"ParameterGroupName": name, "ParameterGroupStatus": "Your parameter group has been updated."}
        )

    def describe_cluster_parameters_response(self: Any) -> Any:
        params = self.redshift_backend.describe_cluster_parameters(
            self._get_param("ParameterGroupName"), self._get_param("Source")
        )
        return ActionResult({"Parameters": params})

    RedshiftBackend.describe_cluster_parameters = describe_cluster_parameters  # type: ignore[method-assign]
    RedshiftResponse.modify_cluster_parameter_group = modify_cluster_parameter_group  # type: ignore[attr-defined]
    RedshiftResponse.reset_cluster_parameter_group = reset_cluster_parameter_group  # type: ignore[attr-defined]
    RedshiftResponse.describe_cluster_parameters = describe_cluster_parameters_response  # type: ignore[method-assign]


# --- Redshift clusters -------------------------------------------------------------------------------------------

# Cluster fields DescribeClusters always has on AWS, as CreateCluster sets them (parameter -> (attribute, default)).
_REDSHIFT_CREATE_FIELDS = {
    "DefaultIamRoleArn": ("default_iam_role_arn", None),
    "MaintenanceTrackName": ("maintenance_track_name", "current"),
    "ManualSnapshotRetentionPeriod": ("manual_snapshot_retention_period", -1),
}


def _patch_redshift_clusters() -> None:
    """AWS DescribeClusters reports ClusterAvailabilityStatus (what the provider waits on: Available), the
    ClusterNodes (the provider reads cluster_type from their number), AvailabilityZoneRelocationStatus, MultiAZ,
    the AQUA status, the namespace ARN, the VPC, the default IAM role, the maintenance track and manual snapshot
    retention, and, with ManageMasterPassword, the Secrets Manager secret Redshift made for the admin password
    (MasterPasswordSecretArn, its KMS key). moto leaves all of them out: the provider's create wait ended in
    "unexpected state ''", its read in "unexpected AvailabilityZoneRelocationStatus value", and a 2-node cluster
    read back as single-node. moto's ClusterStatus is kept."""
    import secrets
    import uuid

    from moto.redshift.models import Cluster
    from moto.redshift.responses import RedshiftResponse

    availability = {"available": "Available", "paused": "Paused", "creating": "Modifying", "deleting": "Modifying"}
    Cluster.cluster_availability_status = property(  # type: ignore[attr-defined]
        lambda self: availability.get(self.status, "Unavailable")
    )

    def vpc_id(self: Any) -> str | None:
        group = self.redshift_backend.subnet_groups.get(self.cluster_subnet_group_name or "")
        subnets = list(group.subnets) if group is not None else []
        return subnets[0].vpc_id if subnets else None

    Cluster.vpc_id = property(vpc_id)  # type: ignore[attr-defined]

    def cluster_nodes(self: Any) -> list[dict[str, str]]:
        # One SHARED node for single-node; a LEADER and one COMPUTE-n per node otherwise (the provider derives
        # cluster_type from how many there are).
        if int(self.number_of_nodes) <= 1:
            return [{"NodeRole": "SHARED", "PrivateIPAddress": "10.0.0.10"}]
        compute = [{"NodeRole": f"COMPUTE-{index}", "PrivateIPAddress": f"10.0.0.{11 + index}"}
                   for index in range(int(self.number_of_nodes))]  # fmt: skip
        return [{"NodeRole": "LEADER", "PrivateIPAddress": "10.0.0.10"}, *compute]

    Cluster.cluster_nodes = property(cluster_nodes)  # type: ignore[attr-defined]

    original_create = RedshiftResponse.create_cluster

    def create_cluster(self: Any) -> Any:
        result = original_create(self)
        cluster = self.redshift_backend.clusters[self._get_param("ClusterIdentifier")]
        for parameter, (attribute, default) in _REDSHIFT_CREATE_FIELDS.items():
            value = self._get_param(parameter)
            setattr(cluster, attribute, default if value is None else value)
        relocation = self._get_bool_param("AvailabilityZoneRelocation", False)
        cluster.availability_zone_relocation_status = "enabled" if relocation else "disabled"
        cluster.multi_az = "Enabled" if self._get_bool_param("MultiAZ", False) else "Disabled"
        cluster.aqua_configuration = {
            "AquaStatus": "disabled",
            "AquaConfigurationStatus": self._get_param("AquaConfigurationStatus") or "auto",
        }
        cluster.cluster_namespace_arn = (
            f"arn:aws:redshift:{cluster.region}:{cluster.account_id}:namespace:{uuid.uuid4()}"
        )
        if self._get_bool_param("ManageMasterPassword", False):
            _manage_master_password(cluster, self._get_param("MasterPasswordSecretKmsKeyId"), secrets.token_urlsafe(24))
        return result

    RedshiftResponse.create_cluster = create_cluster  # type: ignore[method-assign]


def _manage_master_password(cluster: Any, kms_key_id: str | None, password: str) -> None:
    """What Redshift does for ManageMasterPassword: a secret holding the admin credentials, in this account."""
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[cluster.account_id][cluster.region]
    name = f"redshift!{cluster.cluster_identifier}-{cluster.master_username}"
    value = json.dumps({"username": cluster.master_username, "password": password, "engine": "redshift"})
    backend.create_secret(
        name=name,
        secret_string=value,
        secret_binary=None,
        description=f"Admin password of the Redshift cluster {cluster.cluster_identifier}",
        tags=[{"Key": "aws:redshift:cluster", "Value": cluster.cluster_identifier}],
        kms_key_id=kms_key_id,
        client_request_token=None,
        replica_regions=[],
        force_overwrite=False,
    )
    cluster.master_password_secret_arn = backend.describe_secret(name).arn
    cluster.master_password_secret_kms_key_id = kms_key_id or "alias/aws/secretsmanager"
    cluster.master_user_password = password


def _patch_s3_delete_marker_disposal() -> None:
    """Deleting the last versions of a versioned key whose versions include a delete marker empties the key, as
    on AWS (what `terraform destroy` of a force_destroy bucket does). moto disposes of every version's buffer when
    it drops the key, and a delete marker has none: AttributeError, a 500, and the bucket can never be emptied."""
    from moto.s3.models import FakeDeleteMarker

    def dispose(self: Any, garbage: bool = False) -> None:
        """A delete marker holds no body: nothing to release."""

    FakeDeleteMarker.dispose = dispose  # type: ignore[attr-defined]


# --- CloudTrail ----------------------------------------------------------------------------------------------------


def _patch_cloudtrail_trail_lookups() -> None:
    """DescribeTrails with ``trailNameList`` returns only the named trails, as AWS does (a name matches a trail of
    this region, an ARN any trail of the account: shadow trails of multi-region trails included); moto ignores the
    list and returns every trail, so the provider's read of one trail fails with "too many results" as soon as two
    environments share the local cloud. DeleteTrail takes a name or an ARN (the provider deletes by ARN, its id);
    moto deletes by name only and silently keeps the trail."""
    from moto.cloudtrail.models import CloudTrailBackend
    from moto.cloudtrail.responses import CloudTrailResponse

    def describe_trails(self: Any) -> str:
        include_shadow_trails = self._get_bool_param("includeShadowTrails", True)
        trails = list(self.cloudtrail_backend.describe_trails(include_shadow_trails))
        wanted = self._get_param("trailNameList") or []
        if wanted:
            region = self.cloudtrail_backend.region_name
            trails = [
                trail
                for trail in trails
                if trail.arn in wanted or (trail.trail_name in wanted and trail.region_name == region)
            ]
        return json.dumps({"trailList": [t.description(include_region=True) for t in trails]})

    CloudTrailResponse.describe_trails = describe_trails  # type: ignore[method-assign]

    delete_trail = CloudTrailBackend.delete_trail

    def delete_trail_by_name_or_arn(self: Any, name: str) -> None:
        for trail_name, trail in list(self.trails.items()):
            if trail.arn == name:
                name = trail_name
        delete_trail(self, name)

    CloudTrailBackend.delete_trail = delete_trail_by_name_or_arn  # type: ignore[method-assign]


# --- what moto must not execute ----------------------------------------------------------------------------------


def _patch_no_lambda_invocations() -> None:
    """The local cloud's Lambda runtime runs our functions: it polls the raw-events queue through the event source
    mapping Terraform created and delivers EventBridge events. moto must not act as a second Lambda service. AWS
    (here: our runtime) invokes functions; moto would, on every message added to a queue with a mapping, receive
    up to a batch itself (counting a receive, long-polling inside the sender's request), try to run the function
    in Docker and put the messages back, so they reach maxReceiveCount and the DLQ without ever being handled.
    Disabled: moto's SQS mapping poller (mappings are still recorded and listed), and its invocations for SNS
    subscriptions, S3 notifications and its own EventBridge notifications with Lambda targets."""
    from moto.awslambda.models import LambdaBackend
    from moto.sqs.models import Queue

    # Queue.add_message walks this dict to invoke mappings; an always-empty one keeps it from ever doing so,
    # while ListEventSourceMappings/GetEventSourceMapping (the Lambda backend's own records) are unchanged.
    Queue.lambda_event_source_mappings = property(  # type: ignore[assignment]
        lambda self: {}, lambda self, value: None
    )

    def send_sns_message(self: Any, *args: Any, **kwargs: Any) -> None:
        log.debug("moto's SNS -> Lambda delivery skipped: the local Lambda runtime invokes functions")

    LambdaBackend.send_sns_message = send_sns_message  # type: ignore[method-assign]

    import moto.events.notifications as events_notifications
    import moto.s3.notifications as s3_notifications

    def skip_invoke(*args: Any, **kwargs: Any) -> None:
        log.debug("moto's Lambda invocation skipped: the local Lambda runtime invokes functions")

    events_notifications._invoke_lambda = skip_invoke  # type: ignore[assignment]
    s3_notifications._invoke_awslambda = skip_invoke  # type: ignore[assignment]


# --- install ---------------------------------------------------------------------------------------------------

_PATCHES: tuple[Callable[[], None], ...] = (
    _patch_policy_evaluation,
    _patch_s3_bucket_policy_enforcement,
    _patch_s3_access_log_delivery,
    _patch_s3_logging_permission_check,
    _patch_sqs_queue_attributes,
    _patch_kms_rotation_period,
    _patch_budgets_subscribers_and_tags,
    _patch_lambda_configuration,
    _patch_glue_job_execution_class,
    _patch_glue_update_job,
    _patch_redshift_parameter_groups,
    _patch_redshift_clusters,
    _patch_cloudtrail_trail_lookups,
    _patch_s3_delete_marker_disposal,
    _patch_no_lambda_invocations,
    _patch_s3_conditional_writes_atomic,
)


def install() -> None:
    """Apply every patch once in this process (moto's backends are process-wide, so are the patches)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for patch in _PATCHES:
            patch()
        _installed = True
