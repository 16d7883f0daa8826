"""The handler's configuration (its Lambda environment, which terraform/lambda.tf sets) and the raw layout rules.

Environment (nothing here has a default that could drift from Terraform's):

- ``GLUE_JOB_NAME``, ``RAW_BUCKET``, ``RAW_PREFIX``: the job to start and where raw objects land
- ``STATE_BUCKET``, ``STATE_PREFIX``: claims go under ``s3://STATE_BUCKET/STATE_PREFIX events/``
- ``SUPPORTED_SUFFIXES``: comma-separated suffixes the job reads (tfvars ``supported_suffixes``)
- ``SOURCE_JOB_ARGUMENTS``: JSON, source -> the arguments a run of that source overrides (``--source``,
  ``--input_path``, ...); its keys are the known sources
- optional: ``MAX_KEY_LENGTH`` (default 512), ``RETRY_DELAY_SECONDS`` (default 15, at most 900): delay of the
  re-sent copy when the job is busy; ``MAX_BUSY_RETRIES`` (default 240, about an hour): after that many re-sends the
  message is reported as failed instead (visibility timeout, then the DLQ); ``CLAIM_STALE_SECONDS`` (default 900): a
  claim without a run older than this was left by a crashed invocation and may be taken over
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from covid_pipeline import input_rules
from covid_pipeline.raw_events.events import S3ObjectCreated

REQUIRED_ENVIRONMENT = (
    "GLUE_JOB_NAME",
    "RAW_BUCKET",
    "RAW_PREFIX",
    "STATE_BUCKET",
    "STATE_PREFIX",
    "SUPPORTED_SUFFIXES",
    "SOURCE_JOB_ARGUMENTS",
)
DEFAULT_MAX_KEY_LENGTH = input_rules.DEFAULT_MAX_KEY_LENGTH
DEFAULT_RETRY_DELAY_SECONDS = 15
DEFAULT_MAX_BUSY_RETRIES = 240
MAX_SQS_DELAY_SECONDS = 900
DEFAULT_CLAIM_STALE_SECONDS = 900


def _csv_setting(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env[name].split(",") if item.strip())


def _source_arguments(value: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """SOURCE_JOB_ARGUMENTS as a hashable, ordered value (settings key the warm clients)."""
    try:
        document = json.loads(value)
        if not isinstance(document, dict) or not document:
            raise ValueError("not a non-empty JSON object")
        return tuple(
            (str(source), tuple(sorted((str(k), str(v)) for k, v in dict(arguments).items())))
            for source, arguments in sorted(document.items())
        )
    except (ValueError, TypeError) as exc:
        raise RuntimeError(f"SOURCE_JOB_ARGUMENTS is not a JSON object of source -> arguments: {exc}") from None


@dataclass(frozen=True)
class Settings:
    glue_job_name: str
    raw_bucket: str
    raw_prefix: str
    state_bucket: str
    state_prefix: str
    supported_suffixes: tuple[str, ...]
    source_arguments: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    max_key_length: int = DEFAULT_MAX_KEY_LENGTH
    retry_delay_seconds: int = DEFAULT_RETRY_DELAY_SECONDS
    max_busy_retries: int = DEFAULT_MAX_BUSY_RETRIES
    claim_stale_seconds: int = DEFAULT_CLAIM_STALE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in REQUIRED_ENVIRONMENT if not env.get(name)]
        if missing:
            # A deployment error, not a bad message: every message fails and is retried once fixed.
            raise RuntimeError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(
            glue_job_name=env["GLUE_JOB_NAME"],
            raw_bucket=env["RAW_BUCKET"],
            raw_prefix=env["RAW_PREFIX"],
            state_bucket=env["STATE_BUCKET"],
            state_prefix=env["STATE_PREFIX"],
            supported_suffixes=tuple(suffix.lower() for suffix in _csv_setting(env, "SUPPORTED_SUFFIXES")),
            source_arguments=_source_arguments(env["SOURCE_JOB_ARGUMENTS"]),
            max_key_length=int(env.get("MAX_KEY_LENGTH", DEFAULT_MAX_KEY_LENGTH)),
            retry_delay_seconds=min(
                int(env.get("RETRY_DELAY_SECONDS", DEFAULT_RETRY_DELAY_SECONDS)), MAX_SQS_DELAY_SECONDS
            ),
            max_busy_retries=int(env.get("MAX_BUSY_RETRIES", DEFAULT_MAX_BUSY_RETRIES)),
            claim_stale_seconds=int(env.get("CLAIM_STALE_SECONDS", DEFAULT_CLAIM_STALE_SECONDS)),
        )

    @property
    def known_sources(self) -> tuple[str, ...]:
        return tuple(source for source, _ in self.source_arguments)

    def run_arguments(self, source: str) -> dict[str, str]:
        """Per-source Glue run arguments; the job's DefaultArguments supply the rest."""
        return dict(dict(self.source_arguments)[source])


@dataclass(frozen=True)
class Accepted:
    obj: S3ObjectCreated
    source: str


@dataclass(frozen=True)
class Ignored:
    obj: S3ObjectCreated
    reason: str


def classify(obj: S3ObjectCreated, settings: Settings) -> Accepted | Ignored:
    """Decide whether an object is raw input for a source, or why not. Pure: no I/O."""
    key = obj.key
    if not obj.event_name.startswith("ObjectCreated:"):
        return Ignored(obj, f"event {obj.event_name} is not an object creation")
    if obj.bucket != settings.raw_bucket:
        return Ignored(obj, f"bucket {obj.bucket} is not the raw bucket {settings.raw_bucket}")
    if not key.startswith(settings.raw_prefix):
        return Ignored(obj, f"key is outside the raw prefix '{settings.raw_prefix}'")
    relative = key[len(settings.raw_prefix) :]
    # The key rules the job applies too (it quarantines as unsafe_key what is ignored here): covid_pipeline.input_rules.
    problem = input_rules.key_problem(key, relative, settings.max_key_length)
    if problem:
        return Ignored(obj, problem.detail)
    segments = relative.split("/")
    if len(segments) < 2:
        return Ignored(obj, "key is not inside a source folder (<raw prefix><source>/<file>)")
    source = segments[0]
    if source not in settings.known_sources:
        return Ignored(obj, f"unknown source '{source}' (known: {', '.join(settings.known_sources)})")
    problem = input_rules.suffix_problem(relative, settings.supported_suffixes) or input_rules.hidden_problem(relative)
    if problem:
        return Ignored(obj, problem.detail)
    if obj.size == 0:
        return Ignored(obj, "empty object (0 bytes)")
    return Accepted(obj, source)
