"""Job bookmarks without Spark: which files a bookmarked S3 source reads next (times in milliseconds) and the
bookmark store's history, reset and rewind. With a Glue context: tests/component/test_awsglue_job.py."""

from __future__ import annotations

from pathlib import Path

from awsglue import _bookmarks as bm

BAND = 900_000


def files(*pairs: tuple[str, int]) -> list[bm.FileStamp]:
    return [bm.FileStamp(path, when) for path, when in pairs]


def test_first_run_reads_every_file_up_to_its_start() -> None:
    selected, state = bm.files_to_read(files(("a", 1_000), ("b", 5_000), ("late", 9_000)), None, now_ms=5_000)
    assert [f.path for f in selected] == ["a", "b"]
    assert state == {"kind": "files", "high": 5_000, "band": [["a", 1_000], ["b", 5_000]]}


def test_next_run_reads_new_files_and_files_that_showed_up_late_in_the_band() -> None:
    first = {"kind": "files", "high": 1_000_000, "band": [["a", 500_000]]}
    listed = files(("old", 50_000), ("a", 500_000), ("late", 800_000), ("new", 1_500_000))
    selected, state = bm.files_to_read(listed, first, now_ms=2_000_000, max_band_ms=BAND)
    # old: before the band, read then; a: in the band and on record; late: in the band, not on record
    assert [f.path for f in selected] == ["late", "new"]
    assert state == {"kind": "files", "high": 2_000_000, "band": [["new", 1_500_000]]}


def test_a_rewritten_file_is_read_again() -> None:
    first = {"kind": "files", "high": 1_000_000, "band": [["a", 900_000]]}
    selected, _ = bm.files_to_read(files(("a", 950_000)), first, now_ms=1_100_000, max_band_ms=BAND)
    assert [f.path for f in selected] == ["a"]


def test_store_history_reset_and_rewind(tmp_path: Path) -> None:
    store = bm.BookmarkStore(tmp_path / "b.json")
    store.commit("job", "jr_1", 0, {"s": {"high": 1}})
    store.commit("job", "jr_2", 0, {"s": {"high": 2}})
    assert store.states("job") == {"s": {"high": 2}}
    assert store.states("job", "jr_1") == {"s": {"high": 1}}
    entry = bm.api_entry("job", store.reset("job", "jr_1") or {})
    assert entry == {"JobName": "job", "Version": 3, "Run": 2, "Attempt": 0, "RunId": "jr_2",
                     "PreviousRunId": "jr_1", "JobBookmark": '{"s": {"high": 1}}'}  # fmt: skip
    assert store.reset("job") is not None and store.states("job") == {}
    assert store.reset("no_such_job") is None
