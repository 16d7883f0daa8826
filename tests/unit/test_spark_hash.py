from __future__ import annotations

import pytest
from utils import spark_hash


def test_values_for_tasks_are_distinct_and_cover_every_task() -> None:
    for tasks in (1, 3, 36, 120):
        values = spark_hash.values_for_tasks(tasks)
        assert len(set(values)) == tasks
        assert [spark_hash.task_of(v, tasks) for v in values] == list(range(tasks))
        assert all(v >= 0 for v in values)


def test_hash_int_wraps_to_a_signed_32_bit_int() -> None:
    hashes = [spark_hash.hash_int(v) for v in range(-1000, 1000)]
    assert all(-(2**31) <= h < 2**31 for h in hashes)
    assert any(h < 0 for h in hashes) and spark_hash.hash_int(5) == spark_hash.hash_int(5 + 2**32)


def test_values_for_no_tasks_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        spark_hash.values_for_tasks(0)
