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


RECORD = {"schema_version": "1.0.0",
          "partitions": {"year=2020/month=2": 10, "year=2020/month=3": 20, "year=2020/month=4": 30}}  # fmt: skip


def carry(new: dict, old: dict | None = None, record: dict = RECORD, unchanged: dict = LEDGER["files"]):
    old = old if old is not None else {path: None for path in new}
    affected = inc.affected_partitions(new, old, inc.existing_partitions(unchanged))
    return inc.plan_carry_forward(new, old, unchanged, affected, record, "1.0.0")


def test_a_new_day_carries_its_month_forward_from_the_output() -> None:
    plan = carry({"03-15-2020.csv": {(2020, 3): (date(2020, 3, 15), date(2020, 3, 15))}})
    # March 15th and 16th are recomputed; the rest of March is published again as it is, no other month is read.
    assert plan == inc.CarryForward(
        partitions={(2020, 3): 20}, context_days={}, recomputed_days=frozenset({date(2020, 3, 15), date(2020, 3, 16)})
    )


def test_a_new_first_of_month_reads_the_day_before_from_the_previous_partition() -> None:
    unchanged = {k: v for k, v in LEDGER["files"].items() if k != "04-01-2020.csv"}
    record = {"schema_version": "1.0.0", "partitions": {"year=2020/month=2": 10, "year=2020/month=3": 20}}
    plan = carry({"04-01-2020.csv": {(2020, 4): (date(2020, 4, 1), date(2020, 4, 1))}}, record=record,
                 unchanged=unchanged)  # fmt: skip
    assert plan == inc.CarryForward(
        partitions={},
        context_days={(2020, 3): [date(2020, 3, 31)]},
        recomputed_days=frozenset({date(2020, 4, 1), date(2020, 4, 2)}),
    )


def test_a_new_month_end_carries_the_next_month_too() -> None:
    unchanged = {k: v for k, v in LEDGER["files"].items() if k != "03-31-2020.csv"}
    plan = carry({"03-31-2020.csv": {(2020, 3): (date(2020, 3, 31), date(2020, 3, 31))}}, unchanged=unchanged)
    assert plan == inc.CarryForward(partitions={(2020, 3): 20, (2020, 4): 30}, context_days={},
                                    recomputed_days=frozenset({date(2020, 3, 31), date(2020, 4, 1)}))  # fmt: skip


def test_the_new_days_and_the_day_after_each_range_are_recomputed() -> None:
    new_ranges = {
        "04-30-2021.csv": {(2021, 4): (date(2021, 4, 30), date(2021, 4, 30))},
        "owid.csv": {(2021, 5): (date(2021, 5, 3), date(2021, 5, 4)), (2021, 6): (date(2021, 6, 1), date(2021, 6, 1))},
    }
    assert inc.recomputed_days(new_ranges) == {
        date(2021, 4, 30), date(2021, 5, 1),
        date(2021, 5, 3), date(2021, 5, 4), date(2021, 5, 5),
        date(2021, 6, 1), date(2021, 6, 2),
    }  # fmt: skip
    assert inc.recomputed_days({}) == frozenset()


def test_carry_forward_is_refused_when_rows_could_meet_old_ones() -> None:
    revised = {"03-31-2020.csv": {(2020, 3): (date(2020, 3, 31), date(2020, 3, 31))}}
    assert carry(revised, old={"03-31-2020.csv": LEDGER["files"]["03-31-2020.csv"]}) == (
        "a changed or removed file had rows in the output"
    )
    same_day = {"again/03-01-2020.csv": {(2020, 3): (date(2020, 3, 1), date(2020, 3, 1))}}
    assert carry(same_day) == "a new file's dates overlap a file already processed"
    spans = {"owid.csv": {(2020, 3): (date(2020, 3, 2), date(2020, 3, 31))}}
    assert carry(spans) == "a new file's dates overlap a file already processed"


def test_carry_forward_is_refused_without_counts_for_the_output() -> None:
    new = {"03-15-2020.csv": {(2020, 3): (date(2020, 3, 15), date(2020, 3, 15))}}
    assert carry(new, record=inc.output_record({"files": {}})) == (
        "the ledger has no row counts for the current output schema"
    )
    assert carry(new, record={"schema_version": "0.9.0", "partitions": RECORD["partitions"]}) == (
        "the ledger has no row counts for the current output schema"
    )
    assert carry(new, record={"schema_version": "1.0.0", "partitions": {"year=2020/month=2": 10}}) == (
        "the ledger has no row count for a partition to carry forward"
    )


def test_the_output_record_follows_what_each_run_wrote() -> None:
    first = inc.updated_output_record(inc.output_record({}), "1.0.0", {(2020, 3): 20, (2020, 4): 30}, [], True)
    assert first == {"schema_version": "1.0.0", "partitions": {"year=2020/month=3": 20, "year=2020/month=4": 30}}
    second = inc.updated_output_record(first, "1.0.0", {(2020, 4): 31}, [(2020, 3)], False)
    assert second == {"schema_version": "1.0.0", "partitions": {"year=2020/month=4": 31}}
    assert inc.updated_output_record(first, "2.0.0", {(2020, 5): 1}, [], False) == {
        "schema_version": "2.0.0", "partitions": {"year=2020/month=5": 1},
    }  # fmt: skip
    assert inc.updated_output_record(second, "1.0.0", {(2020, 1): 5}, [], True)["partitions"] == {
        "year=2020/month=1": 5
    }
