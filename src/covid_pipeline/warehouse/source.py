"""The job's output as the loader sees it: partitions, their files and content fingerprints, and their rows.

`s3://bucket/prefix/` is read with boto3 (AWS, or the local emulator through AWS_ENDPOINT_URL); any other URI is a
local directory with the same layout (tests, benchmarks).
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from covid_pipeline.warehouse.base import Partition, PartitionSnapshot, SourceObject, WarehouseError


def _is_data_file(relative_key: str) -> bool:
    # Spark leaves _SUCCESS, _temporary/ and .crc files beside the data; only Parquet part files hold rows.
    parts = relative_key.split("/")
    if any(part.startswith(("_", ".")) for part in parts):
        return False
    return parts[-1].endswith(".parquet")


def _group(objects: list[tuple[str, SourceObject]], base_uri: str) -> dict[Partition, PartitionSnapshot]:
    grouped: dict[Partition, list[SourceObject]] = defaultdict(list)
    for relative_key, obj in objects:
        if not _is_data_file(relative_key):
            continue
        try:
            partition = Partition.parse(relative_key)
        except WarehouseError:
            continue  # a data file outside any year=/month= directory is not part of the output
        grouped[partition].append(obj)
    base = base_uri.rstrip("/")
    return {
        partition: PartitionSnapshot(
            partition=partition,
            prefix_uri=f"{base}/{partition.key}/",
            objects=tuple(sorted(found, key=lambda o: o.uri)),
        )
        for partition, found in sorted(grouped.items())
    }


class PartitionSource:
    """Lists and reads the partitions under one output location."""

    def __init__(self, uri: str, s3_client: Any | None = None) -> None:
        self.uri = uri
        parsed = urlparse(uri)
        self.is_s3 = parsed.scheme in ("s3", "s3a")
        self._s3 = s3_client
        if self.is_s3:
            if not parsed.netloc:
                raise WarehouseError(f"no bucket in source URI {uri!r}")
            self.bucket = parsed.netloc
            self.prefix = parsed.path.lstrip("/")
            if self.prefix and not self.prefix.endswith("/"):
                self.prefix += "/"
        else:
            self.root = Path(parsed.path if parsed.scheme == "file" else uri)

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3")
        return self._s3

    def snapshots(self) -> dict[Partition, PartitionSnapshot]:
        return self._list_s3() if self.is_s3 else self._list_local()

    def _list_s3(self) -> dict[Partition, PartitionSnapshot]:
        from botocore.exceptions import BotoCoreError, ClientError

        objects: list[tuple[str, SourceObject]] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    uri = f"s3://{self.bucket}/{item['Key']}"
                    relative = item["Key"][len(self.prefix) :]
                    objects.append((relative, SourceObject(uri, int(item["Size"]), item["ETag"].strip('"'))))
        except (BotoCoreError, ClientError) as exc:
            raise WarehouseError(f"cannot list {self.uri}: {exc}") from exc
        return _group(objects, f"s3://{self.bucket}/{self.prefix}")

    def _list_local(self) -> dict[Partition, PartitionSnapshot]:
        if not self.root.is_dir():
            raise WarehouseError(f"source directory not found: {self.root}")
        objects: list[tuple[str, SourceObject]] = []
        for path in self.root.rglob("*.parquet"):
            relative = path.relative_to(self.root).as_posix()
            if not _is_data_file(relative):
                continue
            # An MD5 of the content, like an S3 ETag of a single-part upload: a rewrite with equal bytes is no change.
            digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
            objects.append((relative, SourceObject(str(path), path.stat().st_size, digest)))
        return _group(objects, str(self.root))

    def read(self, snapshot: PartitionSnapshot) -> pa.Table:
        """All rows of one partition (files concatenated; schemas unified, so an added column reads as null)."""
        tables = [self._read_object(obj) for obj in snapshot.objects]
        if not tables:
            raise WarehouseError(f"partition {snapshot.partition.key} has no data files")
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise WarehouseError(
                f"files of partition {snapshot.partition.key} disagree on their schema: {exc}"
            ) from exc

    def _read_object(self, obj: SourceObject) -> pa.Table:
        try:
            if self.is_s3:
                from botocore.exceptions import BotoCoreError, ClientError

                key = obj.uri[len(f"s3://{self.bucket}/") :]
                try:
                    body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                except (BotoCoreError, ClientError) as exc:
                    raise WarehouseError(f"cannot read {obj.uri}: {exc}") from exc
                source: Any = pa.BufferReader(body)
            else:
                source = obj.uri
            # String columns are read dictionary-encoded, as Parquet stores them: a few hundred distinct countries or
            # file names per partition, so this skips materializing millions of strings (5x less CPU to read).
            # Hive partition directories are not parsed into columns: the loader fills year/month itself.
            schema = pq.ParquetFile(source).schema_arrow
            strings = [field.name for field in schema if pa.types.is_string(field.type)]
            if isinstance(source, pa.BufferReader):
                source.seek(0)
            return pq.ParquetFile(source, read_dictionary=strings).read()
        except (pa.ArrowInvalid, OSError) as exc:
            raise WarehouseError(f"cannot read Parquet file {obj.uri}: {exc}") from exc

    def read_schema(self, snapshot: PartitionSnapshot) -> pa.Schema:
        """The schema of a partition's first file, reading only its footer (Redshift needs it to stage a COPY)."""
        obj = snapshot.objects[0]
        if not self.is_s3:
            return pq.read_schema(obj.uri)
        key = obj.uri[len(f"s3://{self.bucket}/") :]
        return pq.read_schema(_S3RangeFile(self.s3, self.bucket, key, obj.size))


class _S3RangeFile(io.RawIOBase):
    """A seekable read-only file over ranged GETs, so reading a Parquet footer does not download the file."""

    def __init__(self, s3: Any, bucket: str, key: str, size: int) -> None:
        self._s3, self._bucket, self._key, self._size, self._position = s3, bucket, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._position + size)
        if end <= self._position:
            return b""
        response = self._s3.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{end - 1}")
        data: bytes = response["Body"].read()
        self._position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
