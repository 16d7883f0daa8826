"""Benchmark inputs built from ../shared/data without copying it into the repo.

The report date of a JHU file comes from its name, so a replica with shifted
dates is a set of symbolic links with new names: the 10x scale set costs no
disk. Shifts are whole multiples of four years so that 02-29 stays a date.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from bench.harness import SHARED_DATA

JHU_DAILY = SHARED_DATA / "jhu_csse" / "daily_reports"
UID_LOOKUP = SHARED_DATA / "jhu_csse" / "UID_ISO_FIPS_LookUp_Table.csv"
NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{4})(\.csv(?:\.gz)?)$")


class MissingData(RuntimeError):
    """../shared/data is not there."""


def jhu_files() -> list[Path]:
    if not JHU_DAILY.is_dir():
        raise MissingData(f"{JHU_DAILY} not found: the benchmarks read the real JHU files from ../shared/data")
    return sorted(JHU_DAILY.glob("*.csv*"), key=lambda p: _date_key(p.name))


def _date_key(name: str) -> tuple[int, int, int]:
    match = NAME.match(name)
    if not match:
        return (0, 0, 0)
    month, day, year, _ = match.groups()
    return (int(year), int(month), int(day))


def link_files(files: list[Path], dest: Path, year_shift: int = 0) -> list[Path]:
    """Hard-link files into dest (copy where links cannot cross file systems), shifting the year in each name by
    year_shift. Not symlinks: Spark reports a symlinked file under its target's path, so the replicas of one
    file would share a name and the job would attribute each row to all of them (the 10x set read 100x rows)."""
    dest.mkdir(parents=True, exist_ok=True)
    made = []
    for source in files:
        match = NAME.match(source.name)
        if not match:
            continue
        month, day, year, suffix = match.groups()
        target = dest / f"{month}-{day}-{int(year) + year_shift}{suffix}"
        if not target.exists():
            try:
                os.link(source.resolve(), target)
            except OSError:
                shutil.copy2(source, target)
        made.append(target)
    return made


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def replicate_jhu(dest: Path, factor: int) -> list[Path]:
    """The JHU set `factor` times, replica k shifted by 4k years (about factor x 1.67M rows)."""
    files = jhu_files()
    made: list[Path] = []
    for replica in range(factor):
        made += link_files(files, dest, year_shift=4 * replica)
    return made
