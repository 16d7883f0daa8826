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

One module per service: ``request_context`` (the WSGI layer and the contextvar), ``policy`` (statement and
condition evaluation), ``s3``, ``sqs``, ``lambda_functions``, ``glue``, ``redshift`` and ``kms_budgets_cloudtrail``.
Nothing here is pickled with the emulator's state: the patches replace moto's methods, never its classes.

Not patched, because it is how the provider waits on AWS too: its fixed propagation checks (6 x 5 s per SQS queue
and queue policy, about 55 s per S3 lifecycle configuration, 3 x 5 x 1 s per KMS key). No answer ends them sooner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from covid_pipeline.local.moto_patches.glue import patch_glue_job_execution_class, patch_glue_update_job
from covid_pipeline.local.moto_patches.kms_budgets_cloudtrail import (
    patch_budgets_subscribers_and_tags,
    patch_cloudtrail_trail_lookups,
    patch_kms_rotation_period,
)
from covid_pipeline.local.moto_patches.lambda_functions import patch_lambda_configuration, patch_no_lambda_invocations
from covid_pipeline.local.moto_patches.policy import (
    condition_holds,
    conditions_hold,
    patch_policy_evaluation,
    statement_result,
)
from covid_pipeline.local.moto_patches.redshift import patch_redshift_clusters, patch_redshift_parameter_groups
from covid_pipeline.local.moto_patches.request_context import REQUEST_CONTEXT, RequestContext, RequestContextMiddleware
from covid_pipeline.local.moto_patches.s3 import (
    patch_s3_access_log_delivery,
    patch_s3_bucket_policy_enforcement,
    patch_s3_conditional_writes_atomic,
    patch_s3_delete_marker_disposal,
    patch_s3_logging_permission_check,
)
from covid_pipeline.local.moto_patches.sqs import patch_sqs_queue_attributes

__all__ = [
    "REQUEST_CONTEXT",
    "RequestContext",
    "RequestContextMiddleware",
    "condition_holds",
    "conditions_hold",
    "install",
    "statement_result",
]

_installed = False
_install_lock = threading.Lock()

# --- install ---------------------------------------------------------------------------------------------------

_PATCHES: tuple[Callable[[], None], ...] = (
    patch_policy_evaluation,
    patch_s3_bucket_policy_enforcement,
    patch_s3_access_log_delivery,
    patch_s3_logging_permission_check,
    patch_sqs_queue_attributes,
    patch_kms_rotation_period,
    patch_budgets_subscribers_and_tags,
    patch_lambda_configuration,
    patch_glue_job_execution_class,
    patch_glue_update_job,
    patch_redshift_parameter_groups,
    patch_redshift_clusters,
    patch_cloudtrail_trail_lookups,
    patch_s3_delete_marker_disposal,
    patch_no_lambda_invocations,
    patch_s3_conditional_writes_atomic,
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
