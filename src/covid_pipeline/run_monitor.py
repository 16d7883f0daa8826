"""The data quality monitor's service (behind lambda/data_quality_monitor.py): a Glue run reached a final state ->
its metrics, and an SNS alert when it needs a human; at most once per run and state.

EventBridge delivers an event at least once. A marker ``<state_path>monitor/<run id>.<state>.json``, written with a
conditional put, lets one delivery check the run; a repeated one sends nothing again. The rules, the alert text and
the metrics are those of ``covid_pipeline.monitoring``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from covid_pipeline.common import TERMINAL_STATES, split_s3_uri
from covid_pipeline.monitoring import (
    METRIC_ALERTS_SENT,
    AlertPolicy,
    EventError,
    GlueJobStateChange,
    RunManifest,
    alert_reasons,
    format_alert,
    metric,
    publish_alert,
    put_metrics,
    read_manifest,
    run_arguments,
    run_metrics,
    state_path_from_env,
)

# --- one check per run and final state: EventBridge delivers at least once ------------------------------------------
CHECK_MARKERS = "monitor/"
_CONDITIONAL_PUT_LOST = ("PreconditionFailed", "ConditionalRequestConflict")


@dataclass(frozen=True)
class CheckClaim:
    """The marker ``<state_path>monitor/<run id>.<state>.json`` this delivery holds while it checks the run."""

    bucket: str
    key: str


def claim_check(s3: Any, state_path: str, run_id: str, state: str, stale_seconds: float) -> CheckClaim | None:
    """Claim the check of a run's final state (conditional put); None when another delivery has done it, or is
    doing it now. A claim older than ``stale_seconds`` (the function's timeout) was left by an invocation that
    died, and is taken over."""
    from botocore.exceptions import ClientError

    bucket, prefix = split_s3_uri(state_path.rstrip("/") + "/")
    claim = CheckClaim(bucket, f"{prefix}{CHECK_MARKERS}{run_id}.{state}.json")
    body = json.dumps({"run_id": run_id, "state": state, "status": "claimed", "claimed_at": time.time()}).encode()
    for _ in range(2):
        try:
            s3.put_object(Bucket=bucket, Key=claim.key, Body=body, IfNoneMatch="*")
            return claim
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _CONDITIONAL_PUT_LOST:
                raise
        try:
            existing = json.loads(s3.get_object(Bucket=bucket, Key=claim.key)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                continue  # released between our put and our read: try once more
            raise
        if existing.get("status") == "done" or time.time() - float(existing.get("claimed_at", 0)) < stale_seconds:
            return None
        release_check(s3, claim)
    return None


UNCLAIMED = CheckClaim("", "")  # the check runs without a marker (it could not be written)


def mark_check_done(s3: Any, claim: CheckClaim, run_id: str, state: str, alert_message_id: str | None) -> None:
    body = {"run_id": run_id, "state": state, "status": "done", "alert_message_id": alert_message_id}
    s3.put_object(Bucket=claim.bucket, Key=claim.key, Body=json.dumps(body).encode())


def release_check(s3: Any, claim: CheckClaim) -> None:
    s3.delete_object(Bucket=claim.bucket, Key=claim.key)


# --- the data quality monitor (service behind lambda/data_quality_monitor.py) ----------------------------------------
DEFAULT_CHECK_CLAIM_STALE_SECONDS = 900.0  # Lambda's longest timeout; Terraform sets the function's own


@dataclass(frozen=True)
class MonitorSettings:
    """From the Lambda's environment (Terraform sets these; see lambda/data_quality_monitor.py)."""

    alerts_topic_arn: str
    policy: AlertPolicy
    state_path: str | None
    namespace: str
    environment: str = ""
    check_claim_stale_seconds: float = DEFAULT_CHECK_CLAIM_STALE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MonitorSettings:
        env = os.environ if env is None else env
        topic = env.get("ALERTS_TOPIC_ARN", "")
        if not topic:
            raise EventError("ALERTS_TOPIC_ARN is not set")
        if not env.get("METRICS_NAMESPACE"):
            raise EventError("METRICS_NAMESPACE is not set")
        return cls(
            alerts_topic_arn=topic,
            policy=AlertPolicy(
                dq_score_threshold=float(env.get("DQ_SCORE_THRESHOLD", "0.9")),
                quarantine_ratio_threshold=float(env.get("QUARANTINE_RATIO_THRESHOLD", "0.05")),
            ),
            state_path=state_path_from_env(env),
            namespace=env["METRICS_NAMESPACE"],
            environment=env.get("ENVIRONMENT", ""),
            check_claim_stale_seconds=float(env.get("CLAIM_STALE_SECONDS", str(DEFAULT_CHECK_CLAIM_STALE_SECONDS))),
        )


@dataclass
class MonitorOutcome:
    job_run_id: str
    state: str
    alert_reasons: list[str]
    alert_message_id: str | None
    metrics_published: int
    manifest_found: bool
    already_checked: bool = False  # a repeated delivery: nothing sent again

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def monitor_job_run(
    change: GlueJobStateChange, settings: MonitorSettings, *, s3: Any, sns: Any, cloudwatch: Any, glue: Any
) -> MonitorOutcome:
    from botocore.exceptions import ClientError

    logger = logging.getLogger("covid_pipeline.monitoring")
    if change.state not in TERMINAL_STATES:
        logger.info("ignoring non-final state", extra={"job_run_id": change.job_run_id, "state": change.state})
        return MonitorOutcome(change.job_run_id, change.state, [], None, 0, False)
    state_path = run_arguments(glue, change.job_name, change.job_run_id).get("--state_path") or settings.state_path
    manifest = read_manifest(s3, state_path, change.job_run_id) if state_path else None
    claim = None
    if state_path:
        try:
            claim = claim_check(s3, state_path, change.job_run_id, change.state, settings.check_claim_stale_seconds)
        except ClientError as exc:  # better an alert twice than none: check without the marker
            extra = {"job_run_id": change.job_run_id, "error": str(exc)}
            logger.warning("could not claim the run's check", extra=extra)
            claim = UNCLAIMED
        if claim is None:
            # A repeated delivery of the same event: the first one sent the alert and the metrics.
            logger.info("run already checked", extra={"job_run_id": change.job_run_id, "state": change.state})
            return MonitorOutcome(change.job_run_id, change.state, [], None, 0, manifest is not None, True)
    held = claim if claim is not None and claim is not UNCLAIMED else None
    try:
        outcome = _check_run(change, manifest, settings, sns=sns, cloudwatch=cloudwatch)
    except Exception:
        if held is not None:  # the retry of this delivery does it
            release_check(s3, held)
        raise
    if held is not None:
        try:
            mark_check_done(s3, held, change.job_run_id, change.state, outcome.alert_message_id)
        except ClientError as exc:  # the claim then expires after the stale time; the alert is out already
            logger.warning("could not mark the run checked", extra={"job_run_id": change.job_run_id, "error": str(exc)})
    return outcome


def _check_run(
    change: GlueJobStateChange, manifest: RunManifest | None, settings: MonitorSettings, *, sns: Any, cloudwatch: Any
) -> MonitorOutcome:
    logger = logging.getLogger("covid_pipeline.monitoring")
    reasons = alert_reasons(change, manifest, settings.policy)
    data = run_metrics(change, manifest)
    message_id = None
    if reasons:
        subject, body = format_alert(change, manifest, reasons, settings.environment)
        message_id = publish_alert(sns, settings.alerts_topic_arn, subject, body)
        data.append(metric(METRIC_ALERTS_SENT, 1, dimensions={"JobName": change.job_name}))
        logger.warning("alert published", extra={"job_run_id": change.job_run_id, "reasons": reasons})
    published = put_metrics(cloudwatch, data, settings.namespace)
    logger.info(
        "run checked",
        extra={
            "job_run_id": change.job_run_id,
            "state": change.state,
            "dq_score": manifest.dq_score if manifest else None,
            "quarantine_ratio": manifest.quarantine_ratio if manifest else None,
            "alerted": bool(reasons),
        },
    )
    return MonitorOutcome(change.job_run_id, change.state, reasons, message_id, published, manifest is not None)
