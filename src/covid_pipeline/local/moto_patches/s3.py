"""S3: bucket policies enforced with AccessDenied bodies, no access-log objects per request, the logging permission
check, atomic conditional writes and emptying keys with delete markers."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from covid_pipeline.local.moto_patches.policy import as_list, glob_match

# S3 authorizes HEAD with s3:GetObject and POST (multipart create/complete) with s3:PutObject; moto derives the
# action from the HTTP method ("s3:HeadObject", "s3:PostObject"), which no policy names.
_S3_METHOD_ACTIONS = {"s3:HeadObject": "s3:GetObject", "s3:PostObject": "s3:PutObject"}
# Bucket-level reads a bucket policy governs, by the sub-resource of the GET (none: ListObjects/ListObjectsV2).
_S3_BUCKET_READ_ACTIONS = {"location": "s3:GetBucketLocation", "versions": "s3:ListBucketVersions",
                           "uploads": "s3:ListBucketMultipartUploads"}  # fmt: skip
# Query parameters of a plain listing (anything else is a sub-resource: policy, lifecycle, ...).
_S3_LIST_PARAMETERS = {"list-type", "prefix", "delimiter", "max-keys", "marker", "continuation-token",
                       "start-after", "encoding-type", "fetch-owner", "x-id"}  # fmt: skip


def patch_s3_bucket_policy_enforcement() -> None:
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


def patch_s3_access_log_delivery() -> None:
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


def patch_s3_conditional_writes_atomic() -> None:
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
    services = as_list(principal.get("Service", [])) if isinstance(principal, Mapping) else []
    if principal != "*" and "logging.s3.amazonaws.com" not in services:
        return False
    if not any(
        glob_match(pattern, "s3:PutObject", ignore_case=True) for pattern in as_list(statement.get("Action", []))
    ):
        return False
    # A log object's key is the target prefix followed by a timestamped name: the grant must cover such keys.
    sample_key = f"{bucket_arn}/{prefix}2026-01-01-00-00-00-0123456789ABCDEF"
    return any(glob_match(pattern, sample_key) for pattern in as_list(statement.get("Resource", [])))


def patch_s3_logging_permission_check() -> None:
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


def patch_s3_delete_marker_disposal() -> None:
    """Deleting the last versions of a versioned key whose versions include a delete marker empties the key, as
    on AWS (what `terraform destroy` of a force_destroy bucket does). moto disposes of every version's buffer when
    it drops the key, and a delete marker has none: AttributeError, a 500, and the bucket can never be emptied."""
    from moto.s3.models import FakeDeleteMarker

    def dispose(self: Any, garbage: bool = False) -> None:
        """A delete marker holds no body: nothing to release."""

    FakeDeleteMarker.dispose = dispose  # type: ignore[attr-defined]
