"""One claim per object version, so a duplicate delivery starts at most one run.

A claim is ``<STATE_PREFIX>events/<sha256 of bucket/key#version>.json`` in the state bucket, written with a
conditional put (``IfNoneMatch="*"``): the first invocation to write it owns the object version; it is marked
``started`` with the run id once the run started, and deleted again when the start failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Literal

from botocore.exceptions import ClientError

from covid_pipeline.raw_events.events import S3ObjectCreated
from covid_pipeline.raw_events.settings import Settings

logger = logging.getLogger(__name__)

CLAIMS_FOLDER = "events/"
ClaimState = Literal["claimed", "duplicate", "busy"]


class ClaimStore:
    def __init__(self, settings: Settings, s3: Any) -> None:
        self.settings = settings
        self.s3 = s3

    def claim_key(self, obj: S3ObjectCreated) -> str:
        digest = hashlib.sha256(f"{obj.bucket}/{obj.key}#{obj.version_token}".encode()).hexdigest()
        return f"{self.settings.state_prefix}{CLAIMS_FOLDER}{digest}.json"

    def _claim_body(self, obj: S3ObjectCreated, status: str, run_id: str | None = None) -> bytes:
        return json.dumps(
            {
                "bucket": obj.bucket,
                "key": obj.key,
                "version_id": obj.version_id,
                "etag": obj.etag,
                "sequencer": obj.sequencer,
                "status": status,
                "run_id": run_id,
                "job_name": self.settings.glue_job_name,
                "claimed_at": time.time(),
            }
        ).encode()

    def claim(self, obj: S3ObjectCreated) -> ClaimState:
        """'claimed' (ours now), 'duplicate' (a run was already started for it) or 'busy' (in progress elsewhere)."""
        key = self.claim_key(obj)
        for _ in range(2):
            try:
                self.s3.put_object(
                    Bucket=self.settings.state_bucket, Key=key, Body=self._claim_body(obj, "claimed"), IfNoneMatch="*"
                )
                return "claimed"
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in (
                    "PreconditionFailed",
                    "ConditionalRequestConflict",
                ):
                    raise
            existing = self._read_claim(key)
            if existing is None:
                continue  # released between our put and our read: try once more
            if existing.get("status") == "started":
                return "duplicate"
            if time.time() - float(existing.get("claimed_at", 0)) < self.settings.claim_stale_seconds:
                return "busy"
            # Left by an invocation that died between claiming and starting: take it over.
            logger.warning("taking over a stale claim", extra={"object": obj.uri, "claim": key})
            self.release(obj)
        return "busy"

    def _read_claim(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.settings.state_bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        try:
            loaded = json.loads(body)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def mark_started(self, obj: S3ObjectCreated, run_id: str) -> None:
        self.s3.put_object(
            Bucket=self.settings.state_bucket, Key=self.claim_key(obj), Body=self._claim_body(obj, "started", run_id)
        )

    def release(self, obj: S3ObjectCreated) -> None:
        self.s3.delete_object(Bucket=self.settings.state_bucket, Key=self.claim_key(obj))
