"""Incremental planning over the ledger: which files changed, which partitions to rewrite, which files to re-read.

Pure functions on plain values. The ledger (<state_path>/ledger.json) maps each
input's relative path to its size, fingerprint (ETag or md5), status and the
date range it contributed per partition. Deltas are calendar-day deltas, so a
day depends only on itself and the day before: a run rewrites the partitions
its changed files touch (old and new versions), plus the next month when a
touched range ends on a month's last day, and re-reads every file covering
those months or the day before each of them. That makes any sequence of
incremental runs equal to a full refresh, row for row.
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
