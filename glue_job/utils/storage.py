"""The job's object-store edge: the same calls for s3:// URIs (boto3) and local folders.

boto3 honours AWS_ENDPOINT_URL, so on AWS Glue this talks to S3 and under the
local cloud to the emulator, with no branch on where it runs. Spark reads and
writes the data itself; this module only lists objects, reads file heads and
small JSON state, copies quarantined files and removes emptied partitions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from covid_pipeline import input_rules

S3_SCHEMES = ("s3", "s3a", "s3n")


@dataclass(frozen=True)
class ObjectInfo:
    """One input object: where it is, and what identifies its content (size + ETag or md5)."""

    uri: str
    relative_path: str
    size: int
    fingerprint: str


def is_s3(uri: str) -> bool:
    return urlparse(uri).scheme in S3_SCHEMES


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI. Not urlparse: a key may hold '?' and '#', which a URL parser would take for
    a query and a fragment."""
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    return bucket, key.lstrip("/")


def join(base: str, *parts: str) -> str:
    """Join URI/path segments with single slashes (works for s3:// and local paths)."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def spark_path(uri: str) -> str:
    """The path Spark is given: s3 URIs unchanged (fs.s3.impl decides the filesystem), local paths absolute."""
    return uri if is_s3(uri) else str(Path(uri).resolve())


def literal_spark_path(uri: str) -> str:
    """spark_path for a file named exactly so: Spark expands glob characters in every input path it is given
    (Hadoop's globStatus), so a file named ``01-22-2020 [1].csv`` or ``a*.csv`` would match other files or none.
    Escaped, each is read as written."""
    return input_rules.escape_glob(spark_path(uri))


def object_key(info: ObjectInfo) -> str:
    """What the key rules limit in length: the whole object key on S3, the path below the input folder locally."""
    return split_s3(info.uri)[1] if is_s3(info.uri) else info.relative_path


def path_key(uri: str) -> str:
    """Scheme-free key that matches Spark's decoded input_file_name() after the same stripping."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        return f"{bucket}/{key}"
    return str(Path(uri).resolve()).lstrip("/")


@cache
def _s3_client() -> Any:
    import boto3  # imported lazily: local-only runs of the pure modules never need it

    return boto3.client("s3")


def list_objects(root: str) -> list[ObjectInfo]:
    """Every object under root (recursively), sorted by relative path."""
    if is_s3(root):
        bucket, prefix = split_s3(root)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        found: list[ObjectInfo] = []
        paginator = _s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/"):
                    continue
                found.append(
                    ObjectInfo(
                        uri=f"s3://{bucket}/{key}",
                        relative_path=key[len(prefix) :],
                        size=int(item["Size"]),
                        fingerprint=str(item.get("ETag", "")).strip('"'),
                    )
                )
        return sorted(found, key=lambda o: o.relative_path)
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"input path {root} is not a folder")
    files = sorted(p for p in base.rglob("*") if p.is_file())
    with ThreadPoolExecutor(max_workers=4) as pool:
        digests = list(pool.map(_md5, files))
    return [
        ObjectInfo(
            uri=str(p.resolve()), relative_path=p.relative_to(base).as_posix(), size=p.stat().st_size, fingerprint=d
        )
        for p, d in zip(files, digests, strict=True)
    ]


def _md5(path: Path) -> str:
    # Same value S3 gives as ETag for a single-part upload: a local file and its uploaded copy agree.
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_head(uri: str, length: int) -> bytes:
    """The first `length` bytes of an object (a ranged GET on S3)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        response = _s3_client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{length - 1}")
        return bytes(response["Body"].read())
    with open(uri, "rb") as handle:
        return handle.read(length)


def iter_bytes(uri: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """An object's bytes, chunk by chunk (a streamed GET on S3); stopping early closes the stream."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        body = _s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()
        return
    with open(uri, "rb") as handle:
        yield from iter(lambda: handle.read(chunk_size), b"")


def read_heads(uris: list[str], length: int) -> list[bytes]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda u: read_head(u, length), uris))


def read_text(uri: str) -> str | None:
    """A small text object, or None when it does not exist."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = _s3_client()
        try:
            return str(client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8"))
        except client.exceptions.NoSuchKey:
            return None
    path = Path(uri)
    return path.read_text(encoding="utf-8") if path.is_file() else None


class PreconditionFailed(RuntimeError):
    """A conditional write found the object changed (or created, or gone) since its version was read."""


# "The object must not exist": the precondition of a conditional write that creates an object.
ABSENT = "*"


def read_text_versioned(uri: str) -> tuple[str | None, str | None]:
    """A small text object and its version (its ETag on S3, the md5 of its bytes locally), or (None, None)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = _s3_client()
        try:
            response = client.get_object(Bucket=bucket, Key=key)
        except client.exceptions.NoSuchKey:
            return None, None
        return response["Body"].read().decode("utf-8"), str(response["ETag"])
    path = Path(uri)
    if not path.is_file():
        return None, None
    data = path.read_bytes()
    return data.decode("utf-8"), _local_version(data)


def _local_version(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def write_text(uri: str, text: str, expected: str | None = None) -> str:
    """Write a small text object; returns its new version. With `expected` (a version read before, or ABSENT)
    the write is conditional: it raises PreconditionFailed unless the object is still that version (or still
    absent). On S3 that is a conditional PUT (If-Match / If-None-Match: *), which S3 decides atomically; locally
    a compare-and-swap under a lock file created with O_EXCL."""
    data = text.encode("utf-8")
    if is_s3(uri):
        bucket, key = split_s3(uri)
        conditions = {} if expected is None else {"IfNoneMatch": "*"} if expected == ABSENT else {"IfMatch": expected}
        try:
            response = _s3_client().put_object(Bucket=bucket, Key=key, Body=data, **conditions)
        except Exception as error:
            if expected is not None:
                _raise_if_precondition_failed(error, uri)
            raise
        return str(response["ETag"])
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _local_write_lock(path):
        if expected is not None:
            current = _local_version(path.read_bytes()) if path.is_file() else ABSENT
            if current != expected:
                raise PreconditionFailed(f"{uri} changed since it was read")
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic on one filesystem: a crash never leaves half a ledger
    return _local_version(data)


def _raise_if_precondition_failed(error: Exception, uri: str) -> None:
    """botocore's ClientError (imported lazily, like boto3) of a failed condition, as PreconditionFailed: 412
    PreconditionFailed; 409 ConditionalRequestConflict (a concurrent conditional write won); 404 NoSuchKey (If-Match
    on an object deleted meanwhile)."""
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
        raise PreconditionFailed(f"{uri} changed since it was read ({code})") from error


# A lock file older than this is left by a writer that died between creating and removing it (a write of a small
# file holds it for milliseconds).
LOCAL_LOCK_STALE_SECONDS = 30.0


@contextlib.contextmanager
def _local_write_lock(path: Path, timeout: float = 60.0) -> Iterator[None]:
    """Writers of one local file, in any process, one at a time: O_EXCL creation of <file>.lock is atomic."""
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            break
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - lock.stat().st_mtime > LOCAL_LOCK_STALE_SECONDS:
                    lock.unlink()  # a dead writer's
                    continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"{lock} held for more than {timeout:.0f} s") from None
            time.sleep(0.01)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def delete_versioned(uri: str, expected: str) -> None:
    """Delete a small object only if it is still the version `expected` (else PreconditionFailed)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        try:
            _s3_client().delete_object(Bucket=bucket, Key=key, IfMatch=expected)
        except Exception as error:
            _raise_if_precondition_failed(error, uri)
            raise
        return
    path = Path(uri)
    with _local_write_lock(path):
        if not path.is_file() or _local_version(path.read_bytes()) != expected:
            raise PreconditionFailed(f"{uri} changed since it was read")
        path.unlink()


def read_json(uri: str) -> Any | None:
    text = read_text(uri)
    return None if text is None else json.loads(text)


def write_json(uri: str, value: Any, expected: str | None = None) -> str:
    return write_text(uri, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n", expected)


def read_json_versioned(uri: str) -> tuple[Any | None, str | None]:
    text, version = read_text_versioned(uri)
    return (None if text is None else json.loads(text)), version


def copy_object(source: str, destination: str) -> None:
    if is_s3(source) and is_s3(destination):
        src_bucket, src_key = split_s3(source)
        dst_bucket, dst_key = split_s3(destination)
        _s3_client().copy_object(Bucket=dst_bucket, Key=dst_key, CopySource={"Bucket": src_bucket, "Key": src_key})
        return
    if is_s3(source) or is_s3(destination):
        data = read_bytes(source)
        write_bytes(destination, data)
        return
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)


def read_bytes(uri: str) -> bytes:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        return bytes(_s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())
    return Path(uri).read_bytes()


def write_bytes(uri: str, data: bytes) -> None:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        _s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    Path(uri).parent.mkdir(parents=True, exist_ok=True)
    Path(uri).write_bytes(data)


def delete_prefix(uri: str) -> int:
    """Remove every object under a prefix (an emptied partition). Returns how many were removed."""
    if is_s3(uri):
        bucket, prefix = split_s3(uri)
        prefix = prefix.rstrip("/") + "/"
        client = _s3_client()
        removed = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
                removed += len(keys)
        return removed
    path = Path(uri)
    if not path.exists():
        return 0
    count = sum(1 for p in path.rglob("*") if p.is_file())
    shutil.rmtree(path)
    return count


# Spark's dynamic-overwrite staging folders (older runs published that way) and the job's own, one per run: the
# output written there whole, then moved into place partition by partition once the quality gate passed.
SPARK_STAGING_PREFIX = ".spark-staging-"
STAGING_PREFIX = ".publish-staging-"


def staging_leftovers(root: str) -> list[str]:
    """Staging folders directly under root (a killed run leaves its folder behind)."""
    prefixes = (SPARK_STAGING_PREFIX, STAGING_PREFIX)
    if is_s3(root):
        bucket, prefix = split_s3(root)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        found = []
        paginator = _s3_client().get_paginator("list_objects_v2")
        for staging in prefixes:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix + staging, Delimiter="/"):
                found += [f"s3://{bucket}/{item['Prefix']}" for item in page.get("CommonPrefixes", [])]
        return sorted(found)
    base = Path(root)
    if not base.is_dir():
        return []
    return sorted(str(p) for staging in prefixes for p in base.glob(f"{staging}*") if p.is_dir())


def move_prefix(source: str, destination: str) -> int:
    """Move every object under source to the same relative key under destination, which must hold none (on S3 a
    copy and a delete per object, as S3A renames; locally one rename of the folder). Returns how many moved."""
    if is_s3(source) != is_s3(destination):
        raise ValueError(f"cannot move {source} to {destination}: one is on S3, the other is not")
    if is_s3(source):
        bucket, prefix = split_s3(source)
        prefix = prefix.rstrip("/") + "/"
        keys = [
            item["Key"]
            for page in _s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
        for key in keys:
            copy_object(f"s3://{bucket}/{key}", join(destination, key[len(prefix) :]))
        delete_prefix(source)
        return len(keys)
    path = Path(source)
    if not path.exists():
        return 0
    count = sum(1 for p in path.rglob("*") if p.is_file())
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    path.rename(destination)
    return count
