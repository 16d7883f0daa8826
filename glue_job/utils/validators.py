"""File-level checks, decided from a file's name and its first bytes, before Spark reads anything.

A file Spark cannot read sensibly (binary, not UTF-8, no recognisable header,
no data rows, no date in a JHU name) is quarantined as a whole with a reason
so that the run goes on. Pure functions: bytes and names in, verdicts out.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import date

import schema_evolution

HEAD_BYTES = 64 * 1024

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".snappy.parquet")
# What the job reads as data; any other name is skipped as not_a_data_file.
DATA_SUFFIXES = (*CSV_SUFFIXES, *JSON_SUFFIXES, *PARQUET_SUFFIXES)

_MDY_NAME = re.compile(r"(?<!\d)(\d{2})-(\d{2})-(\d{4})(?!\d)")
_ISO_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


@dataclass(frozen=True)
class FileVerdict:
    """What the sniff decided about one file."""

    relative_path: str
    file_format: str  # csv | json | parquet | other
    quarantine_reason: str | None = None
    skip_reason: str | None = None
    mapping: schema_evolution.HeaderMapping | None = None
    name_date: date | None = None
    raw_header: tuple[str, ...] = field(default_factory=tuple)


def file_format(name: str) -> str:
    lower = name.lower()
    base = lower.rsplit("/", 1)[-1]
    if base.startswith((".", "_")):
        return "other"  # _SUCCESS, .DS_Store, hidden files: never data
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    if lower.endswith(JSON_SUFFIXES):
        return "json"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return "other"


def date_from_name(name: str) -> tuple[date | None, str | None]:
    """The report date a file name carries (MM-DD-YYYY as JHU names them, or ISO), or the reason there is none."""
    base = name.rsplit("/", 1)[-1]
    match = _MDY_NAME.search(base)
    if match:
        month, day, year = (int(g) for g in match.groups())
    else:
        match = _ISO_NAME.search(base)
        if not match:
            return None, "no_date_in_name"
        year, month, day = (int(g) for g in match.groups())
    try:
        return date(year, month, day), None
    except ValueError:
        return None, "bad_date_in_name"


def decompress_head(head: bytes, gzipped: bool, complete: bool) -> tuple[bytes | None, str | None]:
    """Decompressed leading bytes of a (possibly gzip) file, or a reason it cannot be read.

    A whole file is decompressed whole (to tell a truncated one). Of a file's head, only its first HEAD_BYTES of
    text are, as many as an uncompressed file's head holds: a 64 KiB gzip head holds about 400 KiB of CSV,
    which took half the sniff's time to decompress and split into lines."""
    if not gzipped:
        return head, None
    if head[:2] != b"\x1f\x8b":
        return None, "not_gzip"
    try:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if not complete:
            return decompressor.decompress(head, HEAD_BYTES), None
        data = decompressor.decompress(head) + decompressor.flush()
        if not decompressor.eof:
            return None, "truncated_gzip"
        return data, None
    except zlib.error:
        return None, "corrupt_gzip"


def _decode(data: bytes, complete: bool) -> str | None:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        # Not final unless complete: a multi-byte character may be cut at the end of the head.
        return decoder.decode(data, final=complete)
    except UnicodeDecodeError:
        return None


SAME_FILE = "same_file_as_another_input"


def same_file_aliases(objects: list[tuple[str, str]], root: str) -> dict[str, str]:
    """(relative path, resolved location) pairs under `root` (resolved) -> {alias: the path kept} for names of
    one physical file.

    Two local names (symlinks) for one file would be read twice, and Spark reports both reads under the
    resolved path, so their rows could not be told apart. The name that is the file itself is kept (else the
    first in order); the others are quarantined. S3 keys never alias: this finds nothing there.
    """
    by_location: dict[str, list[str]] = {}
    for relative_path, location in sorted(objects):
        by_location.setdefault(location, []).append(relative_path)
    aliases: dict[str, str] = {}
    for location, names in by_location.items():
        if len(names) < 2:
            continue
        kept = next((n for n in names if location == f"{root.rstrip('/')}/{n}"), names[0])
        aliases.update({n: kept for n in names if n != kept})
    return aliases


def check_file(relative_path: str, head: bytes, size: int, source: str) -> FileVerdict:
    """Sniff one file: format, header era, name date; a quarantine or skip reason when it cannot be used."""
    fmt = file_format(relative_path)
    if fmt == "other":
        return FileVerdict(relative_path, fmt, skip_reason="not_a_data_file")
    name_date, date_problem = date_from_name(relative_path)
    if source == "jhu_daily" and date_problem:
        return FileVerdict(relative_path, fmt, quarantine_reason=date_problem)
    if size == 0:
        return FileVerdict(relative_path, fmt, quarantine_reason="empty_file")
    if fmt == "parquet":
        if head[:4] != b"PAR1":
            return FileVerdict(relative_path, fmt, quarantine_reason="not_parquet")
        return FileVerdict(relative_path, fmt, name_date=name_date)
    complete = len(head) >= size
    data, problem = decompress_head(head, relative_path.lower().endswith(".gz"), complete)
    if problem or data is None:
        return FileVerdict(relative_path, fmt, quarantine_reason=problem or "unreadable")
    if b"\x00" in data:
        return FileVerdict(relative_path, fmt, quarantine_reason="binary_content")
    text = _decode(data, complete)
    if text is None:
        return FileVerdict(relative_path, fmt, quarantine_reason="invalid_encoding")
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if not complete and lines:
        lines = lines[:-1]  # the last line of a partial head may be cut
    # The header and whether a data row follows: the first two lines that are not blank.
    non_blank = list(itertools.islice((line for line in lines if line.strip()), 2))
    if not non_blank:
        return FileVerdict(relative_path, fmt, quarantine_reason="empty_file" if complete else "no_header")
    if fmt == "json":
        try:
            first = json.loads(non_blank[0])
        except ValueError:
            return FileVerdict(relative_path, fmt, quarantine_reason="invalid_json")
        if not isinstance(first, dict):
            return FileVerdict(relative_path, fmt, quarantine_reason="invalid_json")
        mapping = schema_evolution.map_header(list(first), source)
        if not mapping.ok:
            return FileVerdict(relative_path, fmt, quarantine_reason="missing_required_column", mapping=mapping)
        return FileVerdict(relative_path, fmt, mapping=mapping, name_date=name_date)
    header = next(csv.reader(io.StringIO(non_blank[0])))
    mapping = schema_evolution.map_header(header, source)
    if not any(schema_evolution.HEADER_ALIASES.get(name) for name in mapping.header):
        return FileVerdict(relative_path, fmt, quarantine_reason="no_recognisable_header")
    if not mapping.ok:
        return FileVerdict(relative_path, fmt, quarantine_reason="missing_required_column", mapping=mapping)
    if complete and len(non_blank) == 1:
        return FileVerdict(relative_path, fmt, quarantine_reason="no_data_rows", mapping=mapping)
    return FileVerdict(relative_path, fmt, mapping=mapping, name_date=name_date, raw_header=tuple(header))
