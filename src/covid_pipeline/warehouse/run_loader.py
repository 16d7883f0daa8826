"""The service behind lambda/warehouse_loader.py: load what a finished job run wrote into the warehouse."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from covid_pipeline.monitoring import (
    METRIC_WAREHOUSE_LOAD_SECONDS,
    METRIC_WAREHOUSE_PARTITIONS_LOADED,
    METRIC_WAREHOUSE_ROWS_LOADED,
    EventError,
    GlueJobStateChange,
    metric,
    put_metrics,
    read_manifest,
    run_arguments,
    state_path_from_env,
)
from covid_pipeline.warehouse.base import WarehouseError
from covid_pipeline.warehouse.loader import load_partitions, redact_url

logger = logging.getLogger(__name__)

# The star schema models the JHU daily output; runs of other sources (OWID) are not loaded.
WAREHOUSE_SOURCE = "jhu_daily"


@dataclass(frozen=True)
class LoaderSettings:
    warehouse_url: str
    output_path: str | None
    state_path: str | None
    namespace: str
    source: str = WAREHOUSE_SOURCE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LoaderSettings:
        env = os.environ if env is None else env
        url = env.get("WAREHOUSE_URL", "")
        if not url:
            raise EventError("WAREHOUSE_URL is not set")
        if not env.get("METRICS_NAMESPACE"):
            raise EventError("METRICS_NAMESPACE is not set")
        return cls(
            warehouse_url=url,
            output_path=env.get("OUTPUT_PATH") or None,
            state_path=state_path_from_env(env),
            namespace=env["METRICS_NAMESPACE"],
            source=env.get("SOURCE", WAREHOUSE_SOURCE),
        )


def load_job_run(
    change: GlueJobStateChange, settings: LoaderSettings, *, s3: Any, glue: Any, cloudwatch: Any | None = None
) -> dict[str, Any]:
    """Load the partitions a SUCCEEDED run wrote; other states and other sources are acknowledged and skipped."""
    outcome: dict[str, Any] = {"job_run_id": change.job_run_id, "state": change.state}
    if change.state != "SUCCEEDED":
        return {**outcome, "skipped": f"run state is {change.state}, nothing to load"}
    arguments = run_arguments(glue, change.job_name, change.job_run_id)
    source = arguments.get("--source") or settings.source
    if source != WAREHOUSE_SOURCE:
        return {**outcome, "skipped": f"source {source} is not loaded into the warehouse"}
    state_path = arguments.get("--state_path") or settings.state_path
    output_path = arguments.get("--output_path") or settings.output_path
    if not state_path or not output_path:
        raise WarehouseError("where the run's manifest and output are is unknown: set STATE_PATH and OUTPUT_PATH")
    manifest = read_manifest(s3, state_path, change.job_run_id)
    if manifest is None:
        raise WarehouseError(f"run {change.job_run_id} SUCCEEDED but wrote no manifest under {state_path}runs/")
    if not manifest.partitions_written and not manifest.partitions_removed:
        return {
            **outcome,
            "partitions_loaded": [],
            "partitions_skipped": [],
            "rows_loaded": 0,
            "partitions_removed": [],
        }
    result = load_partitions(
        output_path,
        settings.warehouse_url,
        list(manifest.partitions_written),
        removed=list(manifest.partitions_removed),
        s3_client=s3,
    )
    logger.info(
        "warehouse load done",
        extra={"job_run_id": change.job_run_id, "warehouse": redact_url(settings.warehouse_url), **result.as_dict()},
    )
    if cloudwatch is not None:
        dims = {"JobName": change.job_name}
        put_metrics(
            cloudwatch,
            [
                metric(METRIC_WAREHOUSE_ROWS_LOADED, result.rows_loaded, dimensions=dims),
                metric(METRIC_WAREHOUSE_PARTITIONS_LOADED, len(result.partitions_loaded), dimensions=dims),
                metric(METRIC_WAREHOUSE_LOAD_SECONDS, result.seconds, unit="Seconds", dimensions=dims),
            ],
            settings.namespace,
        )
    return {**outcome, **result.as_dict()}
