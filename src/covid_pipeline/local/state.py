"""The local cloud's memory across restarts: S3 objects and the Glue Data Catalog, on disk.

moto keeps everything in memory and forgets it when the process ends. The local
cloud snapshots what the pipeline needs to find again into its state directory,
and restores it into a fresh emulator before provisioning:

    <state_dir>/s3/<bucket>/index.json          key -> etag, blob file, content type, metadata
    <state_dir>/s3/<bucket>/blobs/ab/<sha256>   one file per object (latest version), named by the key's hash
    <state_dir>/catalog/<database>.json         database, tables (every version) and partitions
    <state_dir>/glue_jobs.json                  job definitions (the pipeline's own is re-provisioned anyway)
    <state_dir>/logs/index.json, logs/<sha256>.jsonl   CloudWatch Logs streams (job and function logs), one file each
    <state_dir>/glue_runs.json                  the run history (written by the Glue executor itself)

Objects are files, never one big JSON, and the snapshot is incremental: an object
whose ETag matches the index is not downloaded again, a log stream whose last
ingestion time matches is not read again. CloudWatch Logs refuses events older
than 14 days, so older log lines are not restored (retention would expire them
soon anyway). Blob names are hashes because
keys may be up to 1 KiB long and contain ``../``, spaces or any unicode.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from covid_pipeline.local.bootstrap import ClientFactory

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
DOWNLOAD_THREADS = 4
_DATABASE_INPUT_KEYS = ("Name", "Description", "LocationUri", "Parameters", "TargetDatabase")
_TABLE_INPUT_KEYS = (
    "Name",
    "Description",
    "Owner",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "ViewOriginalText",
    "ViewExpandedText",
    "TableType",
    "Parameters",
    "TargetTable",
)
_PARTITION_INPUT_KEYS = ("Values", "StorageDescriptor", "Parameters")
# GetJob fields that CreateJob accepts back (timestamps and derived capacity are the service's own).
_JOB_INPUT_KEYS = (
    "Description",
    "LogUri",
    "Role",
    "ExecutionProperty",
    "Command",
    "DefaultArguments",
    "NonOverridableArguments",
    "Connections",
    "MaxRetries",
    "Timeout",
    "WorkerType",
    "NumberOfWorkers",
    "SecurityConfiguration",
    "NotificationProperty",
    "GlueVersion",
    "ExecutionClass",
)


@dataclass
class SnapshotReport:
    objects_downloaded: int = 0
    objects_unchanged: int = 0
    objects_removed: int = 0
    bytes_downloaded: int = 0
    tables: int = 0
    partitions: int = 0
    log_streams_read: int = 0


@dataclass
class RestoreReport:
    buckets: int = 0
    objects: int = 0
    bytes: int = 0
    tables: int = 0
    partitions: int = 0
    log_events: int = 0


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=1, sort_keys=True, default=str))
    os.replace(temporary, path)


def _blob_name(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{digest[:2]}/{digest}"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class StateStore:
    """Snapshots and restores the emulator's objects and catalog under ``state_dir``."""

    def __init__(self, state_dir: Path, client: ClientFactory, region: str) -> None:
        self.state_dir = state_dir
        self.client = client
        self.region = region
        self._lock = threading.Lock()  # one snapshot at a time (after-run snapshots may overlap with stop)

    @property
    def s3_dir(self) -> Path:
        return self.state_dir / "s3"

    @property
    def catalog_dir(self) -> Path:
        return self.state_dir / "catalog"

    @property
    def runs_file(self) -> Path:
        return self.state_dir / "glue_runs.json"

    @property
    def jobs_file(self) -> Path:
        return self.state_dir / "glue_jobs.json"

    # --- snapshot ---------------------------------------------------------------------------------

    def snapshot(self) -> SnapshotReport:
        with self._lock:
            report = SnapshotReport()
            self._snapshot_s3(report)
            self._snapshot_catalog(report)
            self._snapshot_jobs()
            self._snapshot_logs(report)
            log.info("state snapshot: %s", report)
            return report

    def _snapshot_s3(self, report: SnapshotReport) -> None:
        s3 = self.client("s3")
        buckets = [bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])]
        for stale in set(_children(self.s3_dir)) - set(buckets):
            shutil.rmtree(self.s3_dir / stale, ignore_errors=True)
        for bucket in buckets:
            self._snapshot_bucket(s3, bucket, report)

    def _snapshot_bucket(self, s3: Any, bucket: str, report: SnapshotReport) -> None:
        folder = self.s3_dir / bucket
        index_path = folder / INDEX_FILE
        index: dict[str, dict[str, Any]] = json.loads(index_path.read_text()) if index_path.is_file() else {}
        listed: dict[str, dict[str, Any]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", []):
                listed[entry["Key"]] = entry
        changed = [key for key, entry in listed.items() if index.get(key, {}).get("etag") != entry["ETag"]]
        report.objects_unchanged += len(listed) - len(changed)

        def download(key: str) -> tuple[str, dict[str, Any] | None]:
            blob = _blob_name(key)
            target = folder / "blobs" / blob
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                response = s3.get_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if _error_code(exc) != "NoSuchKey":
                    raise
                return key, None  # deleted since the listing: the next snapshot sees it gone
            temporary = target.with_name(target.name + ".tmp")
            with temporary.open("wb") as handle:
                shutil.copyfileobj(response["Body"], handle, 1 << 20)
            os.replace(temporary, target)
            record = {
                "etag": response["ETag"],
                "blob": blob,
                "size": response["ContentLength"],
                "content_type": response.get("ContentType"),
                "content_encoding": response.get("ContentEncoding"),
                "metadata": response.get("Metadata", {}),
            }
            return key, record

        if changed:
            # boto3 clients are thread-safe: the workers share this one.
            with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
                for key, record in pool.map(download, changed):
                    if record is None:
                        listed.pop(key, None)
                        continue
                    index[key] = record
                    report.objects_downloaded += 1
                    report.bytes_downloaded += int(record["size"])
        for key in set(index) - set(listed):
            (folder / "blobs" / index.pop(key)["blob"]).unlink(missing_ok=True)
            report.objects_removed += 1
        if changed or report.objects_removed or not index_path.is_file():
            _write_json(index_path, index)

    def _snapshot_catalog(self, report: SnapshotReport) -> None:
        glue = self.client("glue")
        databases = [db for page in glue.get_paginator("get_databases").paginate() for db in page["DatabaseList"]]
        kept = set()
        for database in databases:
            name = database["Name"]
            tables = []
            for page in glue.get_paginator("get_tables").paginate(DatabaseName=name):
                for table in page["TableList"]:
                    versions = _table_versions(glue, name, table)
                    partitions = [
                        _pick(partition, _PARTITION_INPUT_KEYS)
                        for part_page in glue.get_paginator("get_partitions").paginate(
                            DatabaseName=name, TableName=table["Name"]
                        )
                        for partition in part_page["Partitions"]
                    ]
                    partitions.sort(key=lambda partition: partition["Values"])
                    tables.append({"versions": versions, "partitions": partitions})
                    report.tables += 1
                    report.partitions += len(partitions)
            _write_json(
                self.catalog_dir / f"{name}.json",
                {"database": _pick(database, _DATABASE_INPUT_KEYS), "tables": tables},
            )
            kept.add(f"{name}.json")
        for stale in set(_children(self.catalog_dir)) - kept:
            (self.catalog_dir / stale).unlink(missing_ok=True)

    def _snapshot_jobs(self) -> None:
        glue = self.client("glue")
        jobs = {}
        for page in glue.get_paginator("get_jobs").paginate():
            for job in page["Jobs"]:
                definition = _pick(job, _JOB_INPUT_KEYS)
                if "WorkerType" not in definition and job.get("MaxCapacity") is not None:
                    definition["MaxCapacity"] = job["MaxCapacity"]
                jobs[job["Name"]] = definition
        _write_json(self.jobs_file, jobs)

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def _snapshot_logs(self, report: SnapshotReport) -> None:
        logs = self.client("logs")
        index_path = self.logs_dir / INDEX_FILE
        index: dict[str, dict[str, Any]] = json.loads(index_path.read_text()) if index_path.is_file() else {}
        new_index: dict[str, dict[str, Any]] = {}
        for page in logs.get_paginator("describe_log_groups").paginate():
            for group in page["logGroups"]:
                name = group["logGroupName"]
                known_streams = index.get(name, {}).get("streams", {})
                streams: dict[str, dict[str, Any]] = {}
                for stream_page in logs.get_paginator("describe_log_streams").paginate(logGroupName=name):
                    for stream in stream_page["logStreams"]:
                        stream_name = stream["logStreamName"]
                        last = stream.get("lastIngestionTime") or stream.get("creationTime")
                        known = known_streams.get(stream_name)
                        if known and known.get("last") == last:
                            streams[stream_name] = known
                            continue
                        file_name = hashlib.sha256(f"{name}\n{stream_name}".encode()).hexdigest() + ".jsonl"
                        count = _write_stream(logs, name, stream_name, self.logs_dir / file_name)
                        streams[stream_name] = {"file": file_name, "last": last, "events": count}
                        report.log_streams_read += 1
                new_index[name] = {"retention": group.get("retentionInDays"), "streams": streams}
        kept = {stream["file"] for group in new_index.values() for stream in group["streams"].values()}
        for file_name in _children(self.logs_dir):
            if file_name.endswith(".jsonl") and file_name not in kept:
                (self.logs_dir / file_name).unlink(missing_ok=True)
        if new_index != index:
            _write_json(index_path, new_index)

    # --- restore ----------------------------------------------------------------------------------

    def restore(self) -> RestoreReport:
        """Put the saved objects and catalog into the (fresh) emulator. Call before provisioning."""
        with self._lock:
            report = RestoreReport()
            self._restore_s3(report)
            self._restore_catalog(report)
            self._restore_jobs()
            self._restore_logs(report)
            if report.objects or report.tables:
                log.info("state restored: %s", report)
            return report

    def _restore_s3(self, report: RestoreReport) -> None:
        s3 = self.client("s3")
        for bucket in _children(self.s3_dir):
            folder = self.s3_dir / bucket
            index_path = folder / INDEX_FILE
            if not index_path.is_file():
                continue
            index: dict[str, dict[str, Any]] = json.loads(index_path.read_text())
            _ensure_bucket(s3, bucket, self.region)
            report.buckets += 1

            present = [(key, record) for key, record in index.items() if (folder / "blobs" / record["blob"]).is_file()]
            with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
                for key, etag in pool.map(lambda item: _upload(s3, bucket, folder, *item), present):  # noqa: B023
                    # Keep the index in step with the new ETags so the next snapshot downloads nothing.
                    index[key]["etag"] = etag
                    report.objects += 1
                    report.bytes += int(index[key].get("size") or 0)
            for key in set(index) - {key for key, _ in present}:
                log.warning("state: blob of s3://%s/%s is missing; object not restored", bucket, key)
                index.pop(key)
            _write_json(index_path, index)

    def _restore_logs(self, report: RestoreReport) -> None:
        index_path = self.logs_dir / INDEX_FILE
        if not index_path.is_file():
            return
        logs = self.client("logs")
        oldest_accepted = (time.time() - 14 * 24 * 3600 + 600) * 1000  # CloudWatch Logs' limit, with a margin
        for group, entry in json.loads(index_path.read_text()).items():
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            if entry.get("retention"):
                logs.put_retention_policy(logGroupName=group, retentionInDays=int(entry["retention"]))
            for stream, record in entry["streams"].items():
                with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                    logs.create_log_stream(logGroupName=group, logStreamName=stream)
                path = self.logs_dir / record["file"]
                if not path.is_file():
                    continue
                events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                events = sorted(
                    (
                        {"timestamp": e["timestamp"], "message": e["message"]}
                        for e in events
                        if e["timestamp"] >= oldest_accepted
                    ),
                    key=lambda event: event["timestamp"],
                )
                for start in range(0, len(events), 10_000):
                    logs.put_log_events(
                        logGroupName=group, logStreamName=stream, logEvents=events[start : start + 10_000]
                    )
                report.log_events += len(events)
        # Restored streams have new ingestion times: the next snapshot reads them once more, then not again.

    def _restore_jobs(self) -> None:
        if not self.jobs_file.is_file():
            return
        glue = self.client("glue")
        for name, definition in json.loads(self.jobs_file.read_text()).items():
            try:
                glue.create_job(Name=name, **definition)
            except ClientError as exc:
                if _error_code(exc) != "AlreadyExistsException":
                    raise
                glue.update_job(JobName=name, JobUpdate=definition)

    def _restore_catalog(self, report: RestoreReport) -> None:
        glue = self.client("glue")
        for file_name in _children(self.catalog_dir):
            if not file_name.endswith(".json"):
                continue
            document = json.loads((self.catalog_dir / file_name).read_text())
            database = document["database"]
            try:
                glue.create_database(DatabaseInput=database)
            except ClientError as exc:
                if _error_code(exc) != "AlreadyExistsException":
                    raise
            for table in document.get("tables", []):
                versions = table["versions"]
                name = versions[-1]["Name"]
                try:
                    glue.create_table(DatabaseName=database["Name"], TableInput=versions[0])
                    later = versions[1:]
                except ClientError as exc:
                    if _error_code(exc) != "AlreadyExistsException":
                        raise
                    later = versions[-1:]
                for version in later:
                    glue.update_table(DatabaseName=database["Name"], TableInput=version)
                partitions = table.get("partitions", [])
                for start in range(0, len(partitions), 100):  # BatchCreatePartition takes 100 at a time
                    glue.batch_create_partition(
                        DatabaseName=database["Name"],
                        TableName=name,
                        PartitionInputList=partitions[start : start + 100],
                    )
                report.tables += 1
                report.partitions += len(partitions)


def _write_stream(logs: Any, group: str, stream: str, path: Path) -> int:
    """Every event of one log stream, oldest first, as JSON lines; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    count = 0
    token: str | None = None
    with temporary.open("w") as handle:
        while True:
            request: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
            if token:
                request["nextToken"] = token
            page = logs.get_log_events(**request)
            for event in page["events"]:
                handle.write(json.dumps({"timestamp": event["timestamp"], "message": event["message"]}) + "\n")
                count += 1
            if not page["events"] or page.get("nextForwardToken") in (None, token):
                break
            token = page["nextForwardToken"]
    os.replace(temporary, path)
    return count


def _upload(s3: Any, bucket: str, folder: Path, key: str, record: dict[str, Any]) -> tuple[str, str]:
    extra: dict[str, Any] = {"Metadata": record.get("metadata") or {}}
    if record.get("content_type"):
        extra["ContentType"] = record["content_type"]
    if record.get("content_encoding"):
        extra["ContentEncoding"] = record["content_encoding"]
    with (folder / "blobs" / record["blob"]).open("rb") as body:
        response = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    return key, str(response["ETag"])


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        create: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**create)


def _children(folder: Path) -> list[str]:
    return sorted(child.name for child in folder.iterdir()) if folder.is_dir() else []


def _pick(document: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: document[key] for key in keys if document.get(key) not in (None, "")}


def _table_versions(glue: Any, database: str, table: dict[str, Any]) -> list[dict[str, Any]]:
    """Every version of a table as TableInput documents, oldest first (schema history survives a restart)."""
    try:
        versions = [
            version["Table"]
            for page in glue.get_paginator("get_table_versions").paginate(
                DatabaseName=database, TableName=table["Name"]
            )
            for version in page["TableVersions"]
        ]
        versions.sort(key=lambda version: int(version.get("VersionId") or 0))
    except ClientError:
        versions = []
    if not versions:
        versions = [table]
    return [_pick(version, _TABLE_INPUT_KEYS) for version in versions]
