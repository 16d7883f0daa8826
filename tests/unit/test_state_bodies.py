"""S3 bodies taken while the gate is paused are written after it opens: they must not depend on moto's object
staying alive, nor disturb the file position moto reads from."""

from __future__ import annotations

import os

import pytest
from moto.s3.models import FakeKey

from covid_pipeline.local.state_blobs import Body


@pytest.mark.parametrize("size", [1000, 6 << 20])  # in memory; past moto's 5 MiB buffer, a temporary file
def test_a_taken_body_outlives_the_object_and_leaves_moto_reading_its_own(size: int) -> None:
    body = os.urandom(size)
    key = FakeKey("raw/day.csv", body, account_id="123456789012", region_name="us-east-1", bucket_name="raw")
    taken = Body.capture(key, key._value_buffer, key.size)
    try:
        key._value_buffer.seek(17)  # wherever moto left it: writing the taken body must not move it
        assert b"".join(taken.chunks()) == body
        assert key._value_buffer.tell() == 17
        assert key.value == body
        key.dispose()  # DeleteObject closes moto's file before the snapshot writes the blob
        assert b"".join(taken.chunks()) == body
    finally:
        taken.close()
