"""Job: ``job.init(name, args)`` before the sources, ``job.commit()`` after the sinks; job bookmarks in between.

The bookmark option comes from ``--job-bookmark-option`` (job-bookmark-enable | -disable | -pause; disable by
default), as ``getResolvedOptions`` resolves it or from the command line. With bookmarks on, a source with a
``transformation_ctx`` reads only what the job has not committed yet (``awsglue._bookmarks``); commit saves what
this run read. Pause reads the same way without saving, or reads the range between the runs named by
``--job-bookmark-from`` and ``--job-bookmark-to``.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from awsglue import _bookmarks as bm

if TYPE_CHECKING:
    from awsglue.context import GlueContext


def _argv_value(flag: str) -> str | None:
    argv = sys.argv
    for index, item in enumerate(argv[:-1]):
        if item == flag:
            return argv[index + 1]
    return None


class Job:
    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context
        self._job_name: str | None = None
        self._run_id = ""
        self._attempt = 0
        self._option = "job-bookmark-disable"
        self._range: tuple[str, str] | None = None
        self._store = bm.BookmarkStore.from_environment()
        self._committed: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}

    @staticmethod
    def continuation_options() -> list[str]:
        return ["--continuation-option", "continuation-enabled", "continuation-readonly", "continuation-ignore"]

    def init(self, job_name: str, args: Mapping[str, Any] | None = None) -> None:
        args = dict(args or {})
        option = args.get("job_bookmark_option") or _argv_value("--job-bookmark-option") or "job-bookmark-disable"
        if option not in bm.OPTIONS:
            raise ValueError(f"--job-bookmark-option must be one of {', '.join(bm.OPTIONS)}, got {option!r}")
        self._job_name = job_name
        self._option = option
        self._run_id = str(args.get("JOB_RUN_ID") or _argv_value("--JOB_RUN_ID") or f"jr_local_{uuid.uuid4().hex}")
        attempt = re.search(r"_attempt_(\d+)$", self._run_id)
        self._attempt = int(attempt.group(1)) if attempt else 0
        start = args.get("job_bookmark_from") or _argv_value("--job-bookmark-from")
        end = args.get("job_bookmark_to") or _argv_value("--job-bookmark-to")
        if bool(start) != bool(end):
            raise ValueError("--job-bookmark-from and --job-bookmark-to go together")
        if start and option != "job-bookmark-pause":
            raise ValueError("--job-bookmark-from/--job-bookmark-to need --job-bookmark-option job-bookmark-pause")
        self._range = (str(start), str(end)) if start and end else None
        self._store = bm.BookmarkStore.from_environment()
        self._committed = self._store.states(job_name) if self.bookmarks_on else {}
        self._pending = {}
        self._glue_context._job = self

    def isInitialized(self) -> bool:
        return self._job_name is not None

    def commit(self) -> None:
        """Save what this run's bookmarked sources read (bookmarks enabled only)."""
        if self._job_name is None:
            raise RuntimeError("job.commit() before job.init()")
        if self._option == "job-bookmark-enable":
            self._store.commit(self._job_name, self._run_id, self._attempt, self._pending)
            self._committed = {**self._committed, **self._pending}
            self._pending = {}

    @property
    def bookmarks_on(self) -> bool:
        return self._option in ("job-bookmark-enable", "job-bookmark-pause")

    # --- used by the sources ---

    def select_files(self, transformation_ctx: str, files: list[bm.FileStamp], max_band_ms: int) -> list[bm.FileStamp]:
        """The files a bookmarked S3 source reads in this run (and, when enabled, the state to commit)."""
        assert self._job_name is not None
        if self._range is not None:
            start, end = self._range
            low = self._store.states(self._job_name, start).get(transformation_ctx)
            high = self._store.states(self._job_name, end).get(transformation_ctx)
            return bm.files_between(files, low, high) if high else []
        now_ms = int(time.time() * 1000)
        selected, state = bm.files_to_read(files, self._committed.get(transformation_ctx), now_ms, max_band_ms)
        if self._option == "job-bookmark-enable":
            self._pending[transformation_ctx] = state
        return selected

    def select_rows(self, transformation_ctx: str, df: DataFrame, options: Mapping[str, Any]) -> DataFrame:
        """A bookmarked JDBC source: rows whose bookmark keys come after the last committed ones."""
        keys = list(options.get("jobBookmarkKeys") or [])
        if not keys:
            self._glue_context.get_logger().warn(
                f"source {transformation_ctx}: no jobBookmarkKeys, so it is read in full (local awsglue does not "
                "derive bookmark keys from the primary key)"
            )
            return df
        order = str(options.get("jobBookmarkKeysSortOrder") or "asc").lower()
        if order not in ("asc", "desc"):
            raise ValueError(f"jobBookmarkKeysSortOrder must be asc or desc, got {order!r}")
        key = F.struct(*[F.col(k) for k in keys])
        state = self._committed.get(transformation_ctx)
        if state is not None:
            df = df.where(_past(df, keys, state["last"], order))
        if self._option == "job-bookmark-enable":
            edge = df.agg((F.max if order == "asc" else F.min)(key).alias("edge")).first()
            if edge is not None and edge["edge"] is not None:
                values = [_jsonable(edge["edge"][k]) for k in keys]
                self._pending[transformation_ctx] = {"kind": "jdbc", "keys": keys, "last": values}
        return df


def _past(df: DataFrame, keys: list[str], last: list[Any], order: str) -> Any:
    """Rows whose compound key comes after ``last`` (before it, descending), written as plain comparisons so
    that the JDBC source pushes them down to the database."""
    beyond = (lambda c, v: c > v) if order == "asc" else (lambda c, v: c < v)
    values = [F.lit(v).cast(df.schema[k].dataType) for k, v in zip(keys, last, strict=True)]
    condition = None
    for index in range(len(keys) - 1, -1, -1):  # k1 > v1 or (k1 = v1 and (k2 > v2 or ...))
        step = beyond(F.col(keys[index]), values[index])
        if condition is not None:
            step = step | ((F.col(keys[index]) == values[index]) & condition)
        condition = step
    return condition


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)
