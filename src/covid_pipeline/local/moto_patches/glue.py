"""Glue: ExecutionClass and UpdateJob as AWS answers them."""

from __future__ import annotations

import json
from typing import Any


def patch_glue_job_execution_class() -> None:
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


def patch_glue_update_job() -> None:
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
