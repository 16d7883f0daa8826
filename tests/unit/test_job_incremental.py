"""Incremental planning: changed files, partitions to rewrite, files to re-read."""

from __future__ import annotations

from datetime import date

import incremental as inc


def entry(size: int, fingerprint: str, **partitions: tuple[str, str]) -> dict:
    return {
        "size": size,
        "fingerprint": fingerprint,
        "status": "processed",
        "partitions": {k.replace("_", "=", 1).replace("_month", "/month"): list(v) for k, v in partitions.items()},
    }


LEDGER = {
    "files": {
        "02-29-2020.csv": {"size": 1, "fingerprint": "a", "status": "processed",
                           "partitions": {"year=2020/month=2": ["2020-02-29", "2020-02-29"]}},
        "03-01-2020.csv": {"size": 1, "fingerprint": "b", "status": "processed",
                           "partitions": {"year=2020/month=3": ["2020-03-01", "2020-03-01"]}},
        "03-31-2020.csv": {"size": 1, "fingerprint": "c", "status": "processed",
                           "partitions": {"year=2020/month=3": ["2020-03-31", "2020-03-31"]}},
        "04-01-2020.csv": {"size": 1, "fingerprint": "d", "status": "processed",
                           "partitions": {"year=2020/month=4": ["2020-04-01", "2020-04-01"]}},
    }
}  # fmt: skip


def test_changes_are_new_or_different_files_and_full_refresh_takes_all() -> None:
    listed = [inc.FileState("03-01-2020.csv", 1, "b"), inc.FileState("03-31-2020.csv", 2, "c2"),
              inc.FileState("04-02-2020.csv", 1, "e")]  # fmt: skip
    changes = inc.find_changes(listed, LEDGER, full_refresh=False)
    assert changes.changed == ["03-31-2020.csv", "04-02-2020.csv"] and changes.unchanged == ["03-01-2020.csv"]
    assert inc.find_changes(listed, LEDGER, full_refresh=True).changed == [i.relative_path for i in listed]


def test_a_new_day_rewrites_only_its_month() -> None:
    new = {"04-02-2020.csv": {(2020, 4): (date(2020, 4, 2), date(2020, 4, 2))}}
    existing = inc.existing_partitions(LEDGER["files"])
    assert inc.affected_partitions(new, {"04-02-2020.csv": None}, existing) == {(2020, 4)}


def test_a_revised_month_end_also_rewrites_the_next_month_if_it_has_data() -> None:
    new = {"03-31-2020.csv": {(2020, 3): (date(2020, 3, 31), date(2020, 3, 31))}}
    old = {"03-31-2020.csv": LEDGER["files"]["03-31-2020.csv"]}
    existing = inc.existing_partitions(LEDGER["files"])
    assert inc.affected_partitions(new, old, existing) == {(2020, 3), (2020, 4)}
    assert inc.affected_partitions(new, old, {(2020, 3)}) == {(2020, 3)}


def test_old_partitions_of_a_revised_file_are_rewritten_even_if_it_moved() -> None:
    new = {"x.csv": {(2020, 5): (date(2020, 5, 3), date(2020, 5, 3))}}
    old = {"x.csv": {"partitions": {"year=2020/month=2": ["2020-02-03", "2020-02-03"]}}}
    assert inc.affected_partitions(new, old, set()) == {(2020, 2), (2020, 5)}


def test_context_files_cover_affected_months_and_the_day_before() -> None:
    unchanged = {k: v for k, v in LEDGER["files"].items() if k != "03-31-2020.csv"}
    assert inc.context_files(unchanged, {(2020, 3)}) == ["02-29-2020.csv", "03-01-2020.csv"]
    assert inc.context_files(unchanged, {(2020, 4)}) == ["04-01-2020.csv"]


def test_ledger_entry_round_trips_its_ranges() -> None:
    item = inc.FileState("a.csv", 10, "f")
    made = inc.ledger_entry(item, "processed", {(2020, 3): (date(2020, 3, 1), date(2020, 3, 9))}, 5, "run1")
    assert made["partitions"] == {"year=2020/month=3": ["2020-03-01", "2020-03-09"]}
    assert inc.ranges_of(made) == {(2020, 3): (date(2020, 3, 1), date(2020, 3, 9))}
