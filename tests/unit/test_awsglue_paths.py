"""awsglue's one S3 path splitter (it imports nothing of covid_pipeline, so it has its own)."""

from __future__ import annotations

import pytest

from awsglue._io.paths import split_s3_path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("s3://bucket/raw/a b?c#d.csv", ("s3", "bucket", "raw/a b?c#d.csv")),
        ("s3a://bucket/prefix/", ("s3a", "bucket", "prefix/")),
        ("s3n://bucket", ("s3n", "bucket", "")),
    ],
)
def test_s3_paths_split_into_scheme_bucket_and_key(path: str, expected: tuple[str, str, str]) -> None:
    assert split_s3_path(path) == expected


def test_a_path_that_is_not_s3_is_refused() -> None:
    with pytest.raises(ValueError, match="not an s3:// path: '/tmp/x'"):
        split_s3_path("/tmp/x")
