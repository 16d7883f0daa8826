"""covid_pipeline.input_rules: the key and size rules the S3 event handler and the Glue job share."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator

import pytest

from covid_pipeline import input_rules as rules
from covid_pipeline.input_rules import Problem

DATA_SUFFIXES = (".csv", ".csv.gz", ".json", ".parquet")


def classify(relative_path: str) -> Problem | None:
    return rules.classify_key(f"raw/jhu_daily/{relative_path}", relative_path, DATA_SUFFIXES)


@pytest.mark.parametrize(
    ("relative_path", "detail"),
    [
        ("../01-22-2020.csv", "key has an empty, '.' or '..' path segment"),
        ("a/../../etc/passwd.csv", "key has an empty, '.' or '..' path segment"),
        ("./01-22-2020.csv", "key has an empty, '.' or '..' path segment"),
        ("a//01-22-2020.csv", "key has an empty, '.' or '..' path segment"),
        ("/01-22-2020.csv", "key has an empty, '.' or '..' path segment"),
        ("folder/", "key has an empty, '.' or '..' path segment"),
        ("tab\there-01-22-2020.csv", "key contains control characters"),
        ("new\nline-01-22-2020.csv", "key contains control characters"),
        ("nul\x00-01-22-2020.csv", "key contains control characters"),
        ("del\x7f-01-22-2020.csv", "key contains control characters"),
        ("c1\x85-01-22-2020.csv", "key contains control characters"),  # NEL, a C1 control
        ("esc\x1b[31m-01-22-2020.csv", "key contains control characters"),  # terminal escape sequence
        ("a:b-01-22-2020.csv", "key contains ':', which a Hadoop path cannot hold (Spark could not read it)"),
        ("_01-22-2020.csv", "hidden or marker file (Spark skips names starting with '.' or '_')"),
        (".01-22-2020.csv", "hidden or marker file (Spark skips names starting with '.' or '_')"),
        ("_temporary/0/01-22-2020.csv", "hidden or marker folder (Spark skips names starting with '.' or '_')"),
        (".git/01-22-2020.csv", "hidden or marker folder (Spark skips names starting with '.' or '_')"),
    ],
)
def test_hostile_keys_are_unsafe_with_the_reason(relative_path: str, detail: str) -> None:
    assert classify(relative_path) == Problem(rules.UNSAFE_KEY, detail)


def test_a_key_over_the_length_limit_is_unsafe() -> None:
    name = "k" * 600 + ".csv"
    key = f"raw/jhu_daily/{name}"
    assert rules.classify_key(key, name, DATA_SUFFIXES) == Problem(
        rules.UNSAFE_KEY, f"key is {len(key)} characters long, over the limit of 512"
    )
    assert rules.classify_key(key, name, DATA_SUFFIXES, max_key_length=len(key)) is None


@pytest.mark.parametrize(
    "relative_path",
    [
        "01-22-2020.csv",
        "01-22-2020 [1].csv",  # glob characters: accepted, the job reads them literally
        "01-22-2020 [!a-z].csv",
        "{01,02}-22-2020.csv",
        "*-22-2020.csv",
        "01-22-2020?.csv",
        "back\\slash-01-22-2020.csv",
        "with space & plus+01-23-2020.csv",
        "ünïcødé-数据-01-24-2020.csv",
        "percent%20encoded%2F01-25-2020.csv",
        "nested/folder/01-26-2020.csv.gz",
        "file.with.dots..01-26-2020.csv",  # '..' inside a name is not a '..' segment
        "trailing-dot.csv",
    ],
)
def test_legitimate_odd_names_are_accepted(relative_path: str) -> None:
    assert classify(relative_path) is None


@pytest.mark.parametrize("relative_path", ["README.md", ".gitignore", "_SUCCESS", ".DS_Store", "01-22-2020.exe"])
def test_names_that_are_not_data_are_not_a_data_file_not_unsafe(relative_path: str) -> None:
    problem = classify(relative_path)
    assert problem is not None and problem.reason == rules.NOT_A_DATA_FILE
    assert problem.detail == "unsupported suffix (supported: .csv, .csv.gz, .json, .parquet)"


def test_a_hostile_key_is_unsafe_whatever_its_suffix() -> None:
    assert classify("../notes.txt") == Problem(rules.UNSAFE_KEY, "key has an empty, '.' or '..' path segment")


def test_suffixes_are_matched_case_insensitively() -> None:
    assert classify("01-22-2020.CSV") is None
    assert rules.suffix_problem("x.CSV.GZ", (".csv.gz",)) is None


def test_glob_characters_are_escaped_for_hadoop_and_other_paths_left_alone() -> None:
    assert rules.escape_glob("/in/01-22-2020.csv") == "/in/01-22-2020.csv"
    assert rules.escape_glob("s3://b/raw/a b+ü%20.csv") == "s3://b/raw/a b+ü%20.csv"
    assert rules.escape_glob("/in/01-22-2020 [1].csv") == "/in/01-22-2020 \\[1\\].csv"
    assert rules.escape_glob("/in/{a,b}*?.csv") == "/in/\\{a,b\\}\\*\\?.csv"
    assert rules.escape_glob("/in/back\\slash.csv") == "/in/back\\\\slash.csv"


# --- sizes -------------------------------------------------------------------------------------------------------

LIMITS = rules.SizeLimits(max_compressed_bytes=1000, max_uncompressed_bytes=5000)


@pytest.mark.parametrize(
    ("name", "size", "detail"),
    [
        ("a.csv", 999, None),
        ("a.csv", 1000, None),
        ("a.csv", 1001, "1001 bytes stored, over the limit of 1000"),
        ("a.csv.gz", 1001, "1001 bytes stored, over the limit of 1000"),
        ("a.csv.gz", 1000, None),  # its decompressed size is measured from the stream
    ],
)
def test_stored_size_against_the_compressed_limit(name: str, size: int, detail: str | None) -> None:
    problem = rules.stored_size_problem(name, size, LIMITS)
    assert problem == (Problem(rules.TOO_LARGE, detail) if detail else None)


def test_an_uncompressed_file_is_held_to_the_uncompressed_limit_too() -> None:
    limits = rules.SizeLimits(max_compressed_bytes=10_000, max_uncompressed_bytes=5000)
    assert rules.stored_size_problem("a.csv", 5000, limits) is None
    assert rules.stored_size_problem("a.csv", 5001, limits) == Problem(
        rules.TOO_LARGE, "5001 bytes, over the uncompressed limit of 5000"
    )
    assert rules.stored_size_problem("a.csv.gz", 5001, limits) is None


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        rules.SizeLimits(0, 1)


def chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def test_gzip_within_the_limit_passes_at_the_limit_and_fails_one_byte_over() -> None:
    payload = b"x" * 5000
    assert rules.gzip_size_problem(chunks(gzip.compress(payload)), 5000) is None
    too_big = rules.gzip_size_problem(chunks(gzip.compress(payload + b"y")), 5000)
    assert too_big == Problem(rules.TOO_LARGE, "decompresses to more than the uncompressed limit of 5000")


def test_every_member_of_a_multi_member_gzip_counts() -> None:
    member = gzip.compress(b"x" * 3000)
    assert rules.gzip_size_problem(chunks(member), 5000) is None
    problem = rules.gzip_size_problem(chunks(member + member), 5000)
    assert problem is not None and problem.reason == rules.TOO_LARGE
    assert rules.gzip_size_problem([member + member], 6000) is None


def test_broken_gzip_streams_get_the_sniffs_reasons() -> None:
    data = gzip.compress(b"a,b\n" * 10_000)
    assert rules.gzip_size_problem(chunks(b"a,b\n1,2\n"), 5000).reason == rules.NOT_GZIP
    assert rules.gzip_size_problem([b"\x1f"], 5000).reason == rules.NOT_GZIP
    assert rules.gzip_size_problem(chunks(data[: len(data) // 2], 64), 10**6).reason == rules.TRUNCATED_GZIP
    corrupt = data[:20] + bytes(200) + data[220:]
    assert rules.gzip_size_problem(chunks(corrupt, 64), 10**6).reason == rules.CORRUPT_GZIP
    assert rules.gzip_size_problem([], 5000) is None  # empty: the sniff says empty_file
    assert rules.gzip_size_problem(chunks(data + bytes(512)), 10**6) is None  # zero padding after the member


class CountingChunks:
    """Chunks of a stream, counting how much of it was consumed."""

    def __init__(self, data: bytes, size: int) -> None:
        self.stream = io.BytesIO(data)
        self.size = size
        self.consumed = 0

    def __iter__(self) -> Iterator[bytes]:
        while block := self.stream.read(self.size):
            self.consumed += len(block)
            yield block


def test_a_gzip_bomb_is_stopped_after_the_limit_not_decompressed_whole() -> None:
    # 256 MiB of zeros, about 256 KB compressed, made by streaming (never held decompressed).
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(256)) + compressor.flush()
    assert len(bomb) < 300_000
    stream = CountingChunks(bomb, 16 * 1024)
    problem = rules.gzip_size_problem(stream, 8 << 20)
    assert problem is not None and problem.reason == rules.TOO_LARGE
    # 8 MiB of output needs about 8 KB of input: the rest of the bomb is never read.
    assert stream.consumed <= 64 * 1024


def test_removal_share() -> None:
    assert rules.removal_share(0, 0) == 0.0
    assert rules.removal_share(1, 10) == pytest.approx(0.1)
    assert rules.removal_share(10, 10) == 1.0
