"""S3 and local paths: as Spark reads them, listed with their stamps (for bookmarks), excluded by glob."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from awsglue import _bookmarks as bm

if TYPE_CHECKING:
    from awsglue.context import GlueContext


def spark_path(path: str) -> str:
    """Where Spark reads and writes: s3:// goes through S3A (set up by Glue, or the local executor); file:// and
    plain paths are local."""
    return path


def join_path(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])


def is_s3(path: str) -> bool:
    return path.startswith(("s3://", "s3a://", "s3n://"))


def split_s3_path(path: str) -> tuple[str, str, str]:
    """(scheme, bucket, key or prefix) of an s3:// (s3a://, s3n://) path; the key may be empty. Not urlsplit: a key
    may hold '?' and '#'. awsglue's own: it imports nothing of covid_pipeline, as Glue's library stands alone."""
    if not is_s3(path):
        raise ValueError(f"not an s3:// path: {path!r}")
    scheme, rest = path.split("://", 1)
    bucket, _, key = rest.partition("/")
    return scheme, bucket, key


def local_path(path: str) -> Path:
    return Path(path[len("file://") :] if path.startswith("file://") else path)


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def list_files(glue_ctx: GlueContext, paths: Sequence[str], recursive: bool) -> list[bm.FileStamp]:
    """The data files under ``paths`` (each a file or a folder) with their modification times, as Spark would
    read them: hidden files (``_``, ``.``) left out; subfolders only when ``recursive``."""
    found: list[bm.FileStamp] = []
    for path in paths:
        if is_s3(path):
            found += _list_s3(glue_ctx._client("s3"), path, recursive)
        else:
            found += _list_local(path, recursive)
    return found


def _list_s3(s3: Any, path: str, recursive: bool) -> list[bm.FileStamp]:
    scheme, bucket, prefix = split_s3_path(path)
    found: list[bm.FileStamp] = []
    folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key == prefix and not key.endswith("/"):
                relative = Path(key).name  # the path is the object itself
            elif key.startswith(folder):
                relative = key[len(folder) :]
            else:
                continue  # another object whose key merely starts with the prefix
            parts = relative.split("/")
            if not relative or key.endswith("/") or any(_hidden(p) for p in parts):
                continue
            if len(parts) > 1 and not recursive and not all("=" in p for p in parts[:-1]):
                continue
            found.append(bm.FileStamp(f"{scheme}://{bucket}/{key}", int(item["LastModified"].timestamp() * 1000)))
    return found


def _list_local(path: str, recursive: bool) -> list[bm.FileStamp]:
    root = local_path(path)
    if root.is_file():
        return [bm.FileStamp(str(root), int(root.stat().st_mtime * 1000))]
    found = []
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root).parts
        if not file.is_file() or any(_hidden(p) for p in relative):
            continue
        if len(relative) > 1 and not recursive and not all("=" in p for p in relative[:-1]):
            continue
        found.append(bm.FileStamp(str(file), int(file.stat().st_mtime * 1000)))
    return found


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Glue's exclusion globs: ``**`` crosses folders, ``*`` and ``?`` stay within one."""
    text = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            text += ".*"
            index += 2
        elif pattern[index] == "*":
            text += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            text += "[^/]"
            index += 1
        else:
            text += re.escape(pattern[index])
            index += 1
    return re.compile(f"^{text}$")


def excluded(files: list[bm.FileStamp], exclusions: Any) -> list[bm.FileStamp]:
    patterns = json.loads(exclusions) if isinstance(exclusions, str) else list(exclusions or [])
    regexes = [_glob_regex(p) for p in patterns]
    return [
        f
        for f in files
        if not any(r.match(f.path) or fnmatch.fnmatch(f.path, p) for r, p in zip(regexes, patterns, strict=True))
    ]


def looks_like_file(glue_ctx: GlueContext, path: str) -> bool:
    if is_s3(path):
        return not path.endswith("/") and bool(re.search(r"\.[A-Za-z0-9]+$", path))
    return local_path(path).is_file()


def write_text(glue_ctx: GlueContext, path: str, text: str) -> None:
    if is_s3(path):
        _, bucket, key = split_s3_path(path)
        glue_ctx._client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode())
    else:
        local_path(path).parent.mkdir(parents=True, exist_ok=True)
        local_path(path).write_text(text)
