"""What the ingestion remembers between ticks, in the state prefix of the processed bucket:

- ``<state prefix>ingestion/sources/<source>.json``: per source, the last response's validators (ETag,
  Last-Modified) for conditional GETs, the sha256 of the last stored body (a server that ignores conditional
  requests still writes nothing for unchanged content), and for daily reports the newest date stored;
- ``<state prefix>ingestion/runs/<run id>.json``: one record per ingestion run (``covid-pipeline runs`` lists them).

The function's role may read and write exactly these keys (terraform/iam.tf).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

STATE_FOLDER = "ingestion/"
RECENT_RUNS = 50
MISSING_DAYS_KEPT = 366


@dataclass
class SourceState:
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    newest_date: str | None = None  # ISO date of the newest daily report stored
    stored_key: str | None = None
    # Daily reports: report date -> sha256 of the stored body, so fetching a stored day again writes nothing.
    day_digests: dict[str, str] = field(default_factory=dict)
    # Daily reports: the newest day settled (stored, or given up as a day its publisher skipped), and those skipped
    # days (the newest MISSING_DAYS_KEPT), for `covid-pipeline ingest --date D` should the publisher add one later.
    settled_date: str | None = None
    missing_days: list[str] = field(default_factory=list)

    @property
    def newest(self) -> date | None:
        return date.fromisoformat(self.newest_date) if self.newest_date else None

    @property
    def settled(self) -> date | None:
        """The day the next tick starts after (state written before gaps were settled: the newest stored)."""
        days = [date.fromisoformat(text) for text in (self.settled_date, self.newest_date) if text]
        return max(days) if days else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceState:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


class IngestionState:
    """Reads and writes the ingestion's state objects (one S3 client, one bucket and prefix)."""

    def __init__(self, s3: Any, bucket: str, state_prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = f"{state_prefix}{STATE_FOLDER}"

    def source_key(self, source: str) -> str:
        return f"{self.prefix}sources/{source}.json"

    def run_key(self, run_id: str) -> str:
        return f"{self.prefix}runs/{run_id}.json"

    def _read(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        loaded = json.loads(body)
        return loaded if isinstance(loaded, dict) else None

    def load(self, source: str) -> SourceState:
        return SourceState.from_dict(self._read(self.source_key(source)) or {})

    def save(self, source: str, state: SourceState) -> None:
        body = json.dumps(asdict(state), indent=1, sort_keys=True).encode()
        self.s3.put_object(Bucket=self.bucket, Key=self.source_key(source), Body=body)

    def record_run(self, run: dict[str, Any]) -> None:
        body = json.dumps(run, indent=1, sort_keys=True, default=str).encode()
        self.s3.put_object(Bucket=self.bucket, Key=self.run_key(str(run["run_id"])), Body=body)

    def recent_runs(self, limit: int = RECENT_RUNS) -> list[dict[str, Any]]:
        """The newest run records first (run ids start with their UTC start time)."""
        keys: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}runs/"):
            keys += [item["Key"] for item in page.get("Contents", [])]
        runs = []
        for key in sorted(keys, reverse=True)[:limit]:
            record = self._read(key)
            if record is not None:
                runs.append(record)
        return runs
