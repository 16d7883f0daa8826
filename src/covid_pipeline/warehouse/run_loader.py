"""The service behind lambda/warehouse_loader.py: load what a finished job run wrote into the warehouse."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from covid_pipeline.common import redact_url
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
from covid_pipeline.warehouse.loader import load_partitions
from covid_pipeline.warehouse.schema import DATASETS, JHU_DAILY

logger = logging.getLogger(__name__)

# The default source (SOURCE): its output path is the fallback when a run's arguments do not name one.
WAREHOUSE_SOURCE = JHU_DAILY.source


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


# Seconds kept back from the Lambda's remaining time: a Data API wait that runs out fails with a clear error (and
# cancels its statement) before Lambda kills the invocation.
TIMEOUT_MARGIN_SECONDS = 10.0


def load_job_run(
    change: GlueJobStateChange,
    settings: LoaderSettings,
    *,
    s3: Any,
    glue: Any,
    cloudwatch: Any | None = None,
    seconds_left: float | None = None,
) -> dict[str, Any]:
    """After a SUCCEEDED run, bring the warehouse in step with the whole published output, not only the partitions
    the run wrote: every partition whose fingerprint differs from the warehouse's is loaded, so a load that failed
    or was never triggered is healed by the next run's load. Each source loads into its own tables (schema.DATASETS);
    other states, and sources without a place in the warehouse, are acknowledged and skipped.
    seconds_left: the invocation's remaining time (the Redshift Data API waits end before it runs out)."""
    outcome: dict[str, Any] = {"job_run_id": change.job_run_id, "state": change.state}
    if change.state != "SUCCEEDED":
        return {**outcome, "skipped": f"run state is {change.state}, nothing to load"}
    arguments = run_arguments(glue, change.job_name, change.job_run_id)
    source = arguments.get("--source") or settings.source
    if source not in DATASETS:
        return {**outcome, "skipped": f"source {source} is not loaded into the warehouse"}
    if source != settings.source and not (arguments.get("--state_path") and arguments.get("--output_path")):
        # The environment's paths are the default source's: loading them as another source's would mix the two.
        raise WarehouseError(f"run {change.job_run_id} of source {source} names no --state_path/--output_path")
    state_path = arguments.get("--state_path") or settings.state_path
    output_path = arguments.get("--output_path") or settings.output_path
    if not state_path or not output_path:
        raise WarehouseError("where the run's manifest and output are is unknown: set STATE_PATH and OUTPUT_PATH")
    manifest = read_manifest(s3, state_path, change.job_run_id)
    if manifest is None:
        raise WarehouseError(f"run {change.job_run_id} SUCCEEDED but wrote no manifest under {state_path}runs/")
    options = {}
    if seconds_left is not None:
        options["wait_seconds"] = max(1.0, seconds_left - TIMEOUT_MARGIN_SECONDS)
    result = load_partitions(
        output_path,
        settings.warehouse_url,
        None,  # every partition: the run's own and any an earlier load missed
        removed=list(manifest.partitions_removed),
        source=source,
        s3_client=s3,
        target_options=options,
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
