"""File-level sniffing of the Glue job: one verdict per fixture file, no Spark."""

from __future__ import annotations

import gzip
import random
from datetime import date
from pathlib import Path

import pytest
from utils import validators

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jhu"


def verdict(name: str, data: bytes | None = None, source: str = "jhu_daily") -> validators.FileVerdict:
    body = (FIXTURES / name).read_bytes() if data is None else data
    return validators.check_file(name, body[: validators.HEAD_BYTES], len(body), source)


@pytest.mark.parametrize(
    ("name", "era"),
    [
        ("01-22-2020.csv", "jhu_v1"),
        ("03-01-2020.csv", "jhu_v2"),
        ("03-22-2020.csv", "jhu_v3"),
        ("05-29-2020.csv", "jhu_v4"),
        ("11-09-2020.csv", "jhu_v5"),
        ("11-10-2020.csv", "jhu_v5"),
        ("11-11-2020.csv", "jhu_v3"),
    ],
)
def test_each_era_is_recognised(name: str, era: str) -> None:
    result = verdict(name)
    assert result.quarantine_reason is None
    assert result.mapping is not None and result.mapping.era == era


def test_report_date_comes_from_the_name() -> None:
    assert verdict("03-22-2020.csv").name_date == date(2020, 3, 22)


def test_bom_is_not_part_of_the_header() -> None:
    result = verdict("11-10-2020.csv")
    assert result.raw_header[0] == "FIPS"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("11-15-2020.csv", "binary_content"),
        ("11-16-2020.csv", "no_data_rows"),
        ("11-17-2020.csv", "invalid_encoding"),
        ("11-18-2020.csv", "missing_required_column"),
        ("daily_notes.csv", "no_date_in_name"),
    ],
)
def test_unreadable_files_get_a_reason(name: str, reason: str) -> None:
    assert verdict(name).quarantine_reason == reason


def test_gzip_files_are_read_through_and_a_fake_gzip_is_caught() -> None:
    plain = (FIXTURES / "11-09-2020.csv").read_bytes()
    assert (
        validators.check_file("11-09-2020.csv.gz", gzip.compress(plain), 10**6, "jhu_daily").quarantine_reason is None
    )
    good = verdict("11-09-2020.csv.gz", gzip.compress(plain))
    assert good.quarantine_reason is None and good.mapping is not None
    assert verdict("11-09-2020.csv.gz", plain).quarantine_reason == "not_gzip"
    truncated = gzip.compress(plain)[:-12]
    assert verdict("11-09-2020.csv.gz", truncated).quarantine_reason == "truncated_gzip"


def test_a_gzip_head_is_sniffed_on_as_much_text_as_a_plain_head() -> None:
    # A large file whose head is only part of it: its first HEAD_BYTES of text are sniffed, as for a plain file,
    # not all the text its compressed head would decompress to. A NUL byte further on is for Spark's read to meet.
    rows = (FIXTURES / "11-09-2020.csv").read_bytes().splitlines(keepends=True)
    numbers = random.Random(7)
    body = rows[0] + b"".join(b"%d,%d\n" % (numbers.getrandbits(64), i) for i in range(40_000))
    packed = gzip.compress(body + b"\x00")
    assert len(packed) > validators.HEAD_BYTES and len(body) > 4 * validators.HEAD_BYTES
    head = packed[: validators.HEAD_BYTES]
    data, problem = validators.decompress_head(head, gzipped=True, complete=False)
    assert problem is None and data == body[: validators.HEAD_BYTES]
    sniffed = validators.check_file("11-09-2020.csv.gz", head, len(packed), "jhu_daily")
    assert sniffed.quarantine_reason is None and sniffed.raw_header == verdict("11-09-2020.csv").raw_header
    # Near the start, a NUL byte is still seen.
    binary = gzip.compress(rows[0] + b"\x00" + body)
    assert verdict("11-09-2020.csv.gz", binary).quarantine_reason == "binary_content"


def test_a_partial_head_does_not_count_as_header_only() -> None:
    big = (FIXTURES / "11-09-2020.csv").read_bytes() * 1
    head = big.splitlines(keepends=True)[0]
    # Only the header fits in the head, but the object is larger: not "no data rows".
    assert validators.check_file("11-09-2020.csv", head + b",,,Afgh", 10**6, "jhu_daily").quarantine_reason is None


def test_non_data_files_are_skipped_not_quarantined() -> None:
    for name in ("README.md", "_SUCCESS", ".DS_Store", "sub/notes.txt.bak"):
        result = validators.check_file(name, b"hello", 5, "jhu_daily")
        assert (result.skip_reason, result.quarantine_reason) == ("not_a_data_file", None)


def test_dates_in_names() -> None:
    assert validators.date_from_name("daily/01-22-2020.csv.gz") == (date(2020, 1, 22), None)
    assert validators.date_from_name("owid-covid-data.asof-2021-04-24.csv.gz") == (date(2021, 4, 24), None)
    assert validators.date_from_name("13-45-2020.csv") == (None, "bad_date_in_name")
    assert validators.date_from_name("notes.csv") == (None, "no_date_in_name")


def test_owid_files_need_no_date_in_the_name() -> None:
    body = b"iso_code,continent,location,date,total_cases\nAFG,Asia,Afghanistan,2020-02-24,1.0\n"
    result = validators.check_file("owid.csv", body, len(body), "owid")
    assert result.quarantine_reason is None
    assert result.mapping is not None and result.mapping.era == "owid_v1"


def test_names_of_one_physical_file_keep_the_file_itself() -> None:
    root = "/data/in"
    objects = [
        ("02-01-2020.csv", "/data/in/b/02-01-2020.csv"),  # a symlink to the file below, listed first
        ("b/02-01-2020.csv", "/data/in/b/02-01-2020.csv"),
        ("c/02-01-2020.csv", "/data/in/b/02-01-2020.csv"),
        ("02-02-2020.csv", "/data/in/02-02-2020.csv"),
        ("x/02-03-2020.csv", "/elsewhere/02-03-2020.csv"),  # two links to a file outside the folder
        ("y/02-03-2020.csv", "/elsewhere/02-03-2020.csv"),
    ]
    assert validators.same_file_aliases(objects, root) == {
        "02-01-2020.csv": "b/02-01-2020.csv",
        "c/02-01-2020.csv": "b/02-01-2020.csv",
        "y/02-03-2020.csv": "x/02-03-2020.csv",
    }
    # S3 keys are their own locations: never aliases
    keys = [("a.csv", "s3://bucket/raw/a.csv"), ("b.csv", "s3://bucket/raw/b.csv")]
    assert validators.same_file_aliases(keys, "s3://bucket/raw") == {}
