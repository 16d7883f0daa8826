"""The local cloud's state folder: one cloud per folder, and the files other processes find it by."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from covid_pipeline.errors import UserError
from covid_pipeline.local.cloud_threads import CloudThreads
from covid_pipeline.local.state_folder import (
    ENDPOINT_FILE,
    StateFolderLock,
    previous_port,
    read_endpoint_file,
    write_endpoint_files,
)


def test_a_second_cloud_is_refused_the_folder_and_told_who_holds_it(tmp_path: Path) -> None:
    first, second = StateFolderLock(tmp_path), StateFolderLock(tmp_path)
    first.acquire()
    write_endpoint_files(tmp_path, {"pid": 4242, "endpoint_url": "https://127.0.0.1:4566"}, 4566)
    with pytest.raises(UserError, match=r"already using .* \(pid 4242, endpoint https://127.0.0.1:4566\)"):
        second.acquire()
    assert first.held and not second.held
    first.release()
    second.acquire()
    assert second.held
    second.release()


def test_endpoint_files_round_trip_and_unreadable_ones_read_as_none(tmp_path: Path) -> None:
    assert read_endpoint_file(tmp_path) is None and previous_port(tmp_path) is None
    write_endpoint_files(tmp_path, {"pid": 7, "env": {"AWS_ENDPOINT_URL": "https://127.0.0.1:5000"}}, 5000)
    assert read_endpoint_file(tmp_path) == {"pid": 7, "env": {"AWS_ENDPOINT_URL": "https://127.0.0.1:5000"}}
    assert previous_port(tmp_path) == 5000
    (tmp_path / ENDPOINT_FILE).write_text("{half a docu")
    assert read_endpoint_file(tmp_path) is None
    (tmp_path / ENDPOINT_FILE).write_text(json.dumps(["not", "an", "object"]))
    assert read_endpoint_file(tmp_path) is None


def test_events_are_handled_in_order_and_a_failing_one_does_not_stop_the_rest() -> None:
    handled: list[int] = []

    def handle(event: dict[str, int]) -> None:
        if event["n"] == 2:
            raise RuntimeError("a target failed")
        handled.append(event["n"])

    threads = CloudThreads()
    threads.start()
    threads.handle_events(handle, "delivering a state change")
    for n in range(5):
        threads.put({"n": n})
    threads.stop()  # handles what was queued before it, then ends the thread
    assert handled == [0, 1, 3, 4]
    assert not threads.events_pending()
