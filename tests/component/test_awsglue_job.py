"""Job.init/commit and job bookmarks on local files: what a bookmarked S3 source reads, run after run (the file
rule and the store without Spark: tests/unit/test_awsglue_bookmarks.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from awsglue import _bookmarks as bm
from awsglue.context import GlueContext
from awsglue.job import Job
from tests.awsglue_support import glue_context_fixture  # noqa: F401  (the glue_context fixture)

pytestmark = pytest.mark.spark


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bookmarks.json"
    monkeypatch.setenv(bm.STORE_ENV, str(path))
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """The source folder, with one file of two values."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("1\n2\n")
    return folder


def stamp(file: Path, when_ms: int) -> None:
    os.utime(file, ns=(when_ms * 1_000_000, when_ms * 1_000_000))


def run(glue_context: GlueContext, folder: Path, option: str, run_id: str, ctx: str = "source0") -> list[int]:
    """One job run: init, read the folder, commit; returns the values read."""
    job = Job(glue_context)
    job.init("bookmarked", {"JOB_NAME": "bookmarked", "JOB_RUN_ID": run_id, "job_bookmark_option": option})
    frame = glue_context.create_dynamic_frame.from_options(
        "s3", {"paths": [str(folder)]}, format="csv", transformation_ctx=ctx
    )
    values = sorted(r[0] for r in frame.toDF().collect()) if frame.toDF().columns else []
    job.commit()
    return values


def test_a_bookmarked_s3_source_skips_the_files_it_has_seen(glue_context: GlueContext, data: Path, store: Path) -> None:
    assert run(glue_context, data, "job-bookmark-enable", "jr_1") == [1, 2]
    assert run(glue_context, data, "job-bookmark-enable", "jr_2") == []
    (data / "b.csv").write_text("3\n")
    assert run(glue_context, data, "job-bookmark-enable", "jr_3") == [3]
    (data / "a.csv").write_text("1\n2\n4\n")  # a file changed since the last run is read again
    assert run(glue_context, data, "job-bookmark-enable", "jr_4") == [1, 2, 4]
    record = json.loads(store.read_text())["jobs"]["bookmarked"]
    assert (record["run"], record["run_id"], record["previous_run_id"]) == (4, "jr_4", "jr_3")


def test_disable_reads_everything_and_pause_does_not_move_the_bookmark(
    glue_context: GlueContext, data: Path, store: Path
) -> None:
    assert run(glue_context, data, "job-bookmark-enable", "jr_1") == [1, 2]
    (data / "b.csv").write_text("3\n")
    assert run(glue_context, data, "job-bookmark-disable", "jr_2") == [1, 2, 3]
    assert run(glue_context, data, "job-bookmark-pause", "jr_3") == [3]
    assert run(glue_context, data, "job-bookmark-pause", "jr_4") == [3]
    assert run(glue_context, data, "job-bookmark-enable", "jr_5") == [3]
    assert run(glue_context, data, "job-bookmark-enable", "jr_6") == []


def test_a_source_without_transformation_ctx_is_not_bookmarked(
    glue_context: GlueContext, data: Path, store: Path
) -> None:
    assert run(glue_context, data, "job-bookmark-enable", "jr_1", ctx="") == [1, 2]
    assert run(glue_context, data, "job-bookmark-enable", "jr_2", ctx="") == [1, 2]


def test_a_run_that_does_not_commit_leaves_the_bookmark_where_it_was(
    glue_context: GlueContext, data: Path, store: Path
) -> None:
    job = Job(glue_context)
    job.init("bookmarked", {"JOB_RUN_ID": "jr_failed", "job_bookmark_option": "job-bookmark-enable"})
    glue_context.create_dynamic_frame.from_options("s3", {"paths": [str(data)]}, format="csv", transformation_ctx="s")
    # ... and the run fails before job.commit()
    assert run(glue_context, data, "job-bookmark-enable", "jr_retry", ctx="s") == [1, 2]


def test_an_unknown_bookmark_option_is_refused(glue_context: GlueContext, store: Path) -> None:
    with pytest.raises(ValueError, match="job-bookmark-sometimes"):
        Job(glue_context).init("j", {"job_bookmark_option": "job-bookmark-sometimes"})


def test_file_times_are_milliseconds_of_the_files_modification(glue_context: GlueContext, tmp_path: Path) -> None:
    from awsglue import _io

    (tmp_path / "a.csv").write_text("1\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.csv").write_text("2\n")
    stamp(tmp_path / "a.csv", 1_600_000_000_123)
    listed = _io.list_files(glue_context, [str(tmp_path)], recursive=False)
    assert listed == [bm.FileStamp(str(tmp_path / "a.csv"), 1_600_000_000_123)]
    assert len(_io.list_files(glue_context, [str(tmp_path)], recursive=True)) == 2
