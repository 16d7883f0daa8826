"""Incremental planning over the ledger: which files changed, which partitions to rewrite, which files to re-read.

Pure functions on plain values. The ledger (<state_path>/ledger.json) maps each
input's relative path to its size, fingerprint (ETag or md5), status and the
date range it contributed per partition. Deltas are calendar-day deltas, so a
day depends only on itself and the day before: a run rewrites the partitions
its changed files touch (old and new versions), plus the next month when a
touched range ends on a month's last day, and re-reads every file covering
those months or the day before each of them. That makes any sequence of
incremental runs equal to a full refresh, row for row.

When every changed file is new and its dates are days no other file has (the
usual case: tomorrow's daily report), the unchanged rows of the rewritten
partitions are carried forward from the published output instead of being
re-read from their raw files: `plan_carry_forward` says which partitions to read
back, the row counts the ledger recorded for them (a check that the output is
the one this ledger describes), and the days before the new ranges and before
each rewritten month that the deltas need. Anything else (a revision, a
removal, an overlap, an output the ledger has no count for) re-reads the raw
files as above.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

LEDGER_VERSION = 1

Partition = tuple[int, int]


def partition_key(partition: Partition) -> str:
    return f"year={partition[0]}/month={partition[1]}"


def parse_partition_key(key: str) -> Partition:
    year, month = (part.split("=", 1)[1] for part in key.split("/"))
    return int(year), int(month)


def empty_ledger() -> dict[str, Any]:
    return {"version": LEDGER_VERSION, "files": {}}


@dataclass(frozen=True)
class FileState:
    """An input object as listed now."""

    relative_path: str
    size: int
    fingerprint: str


@dataclass
class ChangeSet:
    changed: list[str] = field(default_factory=list)  # new or revised, to be processed
    unchanged: list[str] = field(default_factory=list)  # same size + fingerprint as in the ledger


def find_changes(listed: list[FileState], ledger: dict[str, Any], full_refresh: bool) -> ChangeSet:
    known = {} if full_refresh else ledger.get("files", {})
    changes = ChangeSet()
    for item in listed:
        entry = known.get(item.relative_path)
        if entry and entry.get("size") == item.size and entry.get("fingerprint") == item.fingerprint:
            changes.unchanged.append(item.relative_path)
        else:
            changes.changed.append(item.relative_path)
    return changes


def _last_day(partition: Partition) -> date:
    year, month = partition
    return date(year, month, calendar.monthrange(year, month)[1])


def _first_day(partition: Partition) -> date:
    return date(partition[0], partition[1], 1)


def _next(partition: Partition) -> Partition:
    year, month = partition
    return (year + 1, 1) if month == 12 else (year, month + 1)


def ranges_of(entry: dict[str, Any] | None) -> dict[Partition, tuple[date, date]]:
    """Per partition the (min, max) report date a ledger entry contributed."""
    if not entry:
        return {}
    return {
        parse_partition_key(key): (date.fromisoformat(lo), date.fromisoformat(hi))
        for key, (lo, hi) in entry.get("partitions", {}).items()
    }


def affected_partitions(
    new_ranges: dict[str, dict[Partition, tuple[date, date]]],
    old_entries: dict[str, dict[str, Any] | None],
    existing: set[Partition],
) -> set[Partition]:
    """Partitions to rewrite: those the changed files touch now or touched before, plus a following month
    whose first day's deltas depend on a changed last day (only if that month has data)."""
    affected: set[Partition] = set()
    edges: set[Partition] = set()
    all_ranges = [*new_ranges.values(), *(ranges_of(entry) for entry in old_entries.values())]
    for ranges in all_ranges:
        for partition, (_lo, hi) in ranges.items():
            affected.add(partition)
            if hi >= _last_day(partition):
                edges.add(_next(partition))
    return affected | (edges & (existing | affected))


def existing_partitions(ledger_files: dict[str, Any]) -> set[Partition]:
    return {partition for entry in ledger_files.values() for partition in ranges_of(entry)}


def context_files(
    candidates: dict[str, dict[str, Any]],
    affected: set[Partition],
) -> list[str]:
    """Unchanged files to re-read: any covering an affected month or the day before one."""
    days_before = {_first_day(p) - timedelta(days=1) for p in affected}
    chosen = []
    for path, entry in candidates.items():
        ranges = ranges_of(entry)
        if set(ranges) & affected or any(lo <= day <= hi for lo, hi in ranges.values() for day in days_before):
            chosen.append(path)
    return sorted(chosen)


@dataclass(frozen=True)
class CarryForward:
    """Published rows to read back instead of raw files: whole rewritten partitions (with the row counts on
    record for them), plus single days from other partitions that the deltas need (the day before a new range
    or before a rewritten month's first day)."""

    partitions: dict[Partition, int]
    context_days: dict[Partition, list[date]]
    # Days whose rows the run recomputes; the other carried rows of the rewritten partitions are published again
    # as they are (see recomputed_days).
    recomputed_days: frozenset[date] = frozenset()


def output_record(ledger: dict[str, Any]) -> dict[str, Any]:
    """What the ledger knows of the published output: its schema version and rows per partition."""
    return ledger.get("output") or {"schema_version": None, "partitions": {}}


def updated_output_record(
    previous: dict[str, Any],
    schema_version: str,
    written: dict[Partition, int],
    removed: list[Partition],
    full_refresh: bool,
) -> dict[str, Any]:
    stale = full_refresh or previous.get("schema_version") != schema_version
    partitions: dict[str, int] = {} if stale else dict(previous["partitions"])
    for partition in removed:
        partitions.pop(partition_key(partition), None)
    partitions.update({partition_key(p): rows for p, rows in written.items()})
    return {"schema_version": schema_version, "partitions": dict(sorted(partitions.items()))}


def plan_carry_forward(
    new_ranges: dict[str, dict[Partition, tuple[date, date]]],
    old_entries: dict[str, dict[str, Any] | None],
    unchanged_entries: dict[str, dict[str, Any]],
    affected: set[Partition],
    record: dict[str, Any],
    schema_version: str,
) -> CarryForward | str:
    """A CarryForward when the unchanged rows of `affected` can come from the published output, else why not.

    Safe only when the new rows cannot meet an unchanged file's rows: every changed file is new (a revision or
    a removal takes rows away, and rows it beat in the dedup would have to come back) and no unchanged file
    covers any of its dates. Then the output already holds exactly the rows a full refresh would keep for
    every other day; the job recomputes the deltas of every day in the rewritten partitions.
    """
    if any(entry is not None for entry in old_entries.values()):
        return "a changed or removed file had rows in the output"
    if record.get("schema_version") != schema_version:
        return "the ledger has no row counts for the current output schema"
    unchanged_ranges = [ranges_of(entry) for entry in unchanged_entries.values()]
    for ranges in new_ranges.values():
        for partition, (lo, hi) in ranges.items():
            for others in unchanged_ranges:
                other = others.get(partition)
                if other and lo <= other[1] and other[0] <= hi:
                    return "a new file's dates overlap a file already processed"
    on_record = {parse_partition_key(key): rows for key, rows in record.get("partitions", {}).items()}
    existing = existing_partitions(unchanged_entries)
    # Deltas need the day before each new range (the other recomputed days follow a new day); those that fall in a
    # partition not rewritten are read from it as context.
    needed_days = {lo - timedelta(days=1) for ranges in new_ranges.values() for lo, _hi in ranges.values()}
    needed = (affected & existing) | {(day.year, day.month) for day in needed_days if (day.year, day.month) in existing}
    if needed - set(on_record):
        return "the ledger has no row count for a partition to carry forward"
    context_days: dict[Partition, list[date]] = {}
    for day in sorted(needed_days):
        partition = (day.year, day.month)
        if partition not in affected and partition in on_record:
            context_days.setdefault(partition, []).append(day)
    return CarryForward(
        {p: on_record[p] for p in sorted(affected & set(on_record))}, context_days, recomputed_days(new_ranges)
    )


def recomputed_days(new_ranges: dict[str, dict[Partition, tuple[date, date]]]) -> frozenset[date]:
    """The days whose output rows change when the new files' rows arrive: each of their days, and the day after
    each range (its delta is against the range's last day). A carried row of any other day keeps its published
    values: no new row shares its day (plan_carry_forward's condition), so it wins its dedup again, and its
    previous day's row is unchanged, so its deltas are too."""
    days: set[date] = set()
    for ranges in new_ranges.values():
        for lo, hi in ranges.values():
            days.update(lo + timedelta(days=offset) for offset in range((hi - lo).days + 2))
    return frozenset(days)


def ledger_entry(
    item: FileState,
    status: str,
    ranges: dict[Partition, tuple[date, date]],
    rows: int,
    run_id: str,
    reason: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "size": item.size,
        "fingerprint": item.fingerprint,
        "status": status,
        "rows": rows,
        "run_id": run_id,
        "partitions": {partition_key(p): [lo.isoformat(), hi.isoformat()] for p, (lo, hi) in sorted(ranges.items())},
    }
    if reason:
        entry["reason"] = reason
    return entry


# --- guards and failure streaks (what the ledger keeps besides its files) -----------------------------------------


def input_path_problem(ledger: dict[str, Any], input_path: str) -> str | None:
    """Why a run on `input_path` must not use this ledger, or None. A ledger written before it recorded its input
    path (or an empty one) is adopted by the run."""
    recorded = ledger.get("input_path")
    if not recorded or recorded.rstrip("/") == input_path.rstrip("/"):
        return None
    return (
        f"the ledger at this --state_path belongs to input path {recorded}, not {input_path}: a run on another "
        "input would take every file on record for removed and delete their output. Point --state_path at the "
        "state of this input (or a new folder for a new one)"
    )


def same_version(entry: dict[str, Any] | None, item: FileState) -> bool:
    return bool(entry) and entry.get("size") == item.size and entry.get("fingerprint") == item.fingerprint


def poisoned(failures: dict[str, Any], states: dict[str, FileState], limit: int) -> dict[str, dict[str, Any]]:
    """Files whose current version failed `limit` runs in a row (a changed version starts a new count)."""
    return {
        path: entry
        for path, entry in failures.items()
        if path in states and same_version(entry, states[path]) and int(entry.get("failures", 0)) >= limit
    }


def with_failures(
    failures: dict[str, Any], states: dict[str, FileState], paths: list[str], run_id: str, error: str
) -> dict[str, Any]:
    """`failures` with one more failed run for each of `paths` (their current version), `error` as the last one."""
    updated = dict(failures)
    for path in paths:
        previous = failures.get(path)
        count = int(previous.get("failures", 0)) if same_version(previous, states[path]) else 0
        updated[path] = {
            "size": states[path].size,
            "fingerprint": states[path].fingerprint,
            "failures": count + 1,
            "last_error": error,
            "run_id": run_id,
        }
    return dict(sorted(updated.items()))
