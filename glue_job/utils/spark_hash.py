"""Where Spark's hash partitioning sends a value, computed in Python.

`repartition(n, column)` sends a row to task pmod(hash(column), n), hash being Murmur3 (x86, 32 bits) with seed
42 (Spark's HashPartitioning). Spark's SQL API has no identity partitioning; with `values_for_tasks` a job picks,
for each task, a value that lands in it, and so decides which rows share a task and in what order tasks run.
"""

from __future__ import annotations

SEED = 42
_MASK = 0xFFFFFFFF


def _rotate_left(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK


def hash_int(value: int, seed: int = SEED) -> int:
    """Spark's hash() of an INT value (Murmur3_x86_32.hashInt), as a signed 32-bit int."""
    k1 = (value & _MASK) * 0xCC9E2D51 & _MASK
    k1 = _rotate_left(k1, 15) * 0x1B873593 & _MASK
    h1 = ((seed & _MASK) ^ k1) & _MASK
    h1 = (_rotate_left(h1, 13) * 5 + 0xE6546B64) & _MASK
    h1 ^= 4  # the input's length in bytes
    h1 ^= h1 >> 16
    h1 = h1 * 0x85EBCA6B & _MASK
    h1 ^= h1 >> 13
    h1 = h1 * 0xC2B2AE35 & _MASK
    h1 ^= h1 >> 16
    return h1 - (1 << 32) if h1 & 0x80000000 else h1


def task_of(value: int, tasks: int) -> int:
    """The task (0-based) that hash partitioning into `tasks` sends an INT value to."""
    return hash_int(value) % tasks  # Python's % by a positive number is Spark's pmod


def values_for_tasks(tasks: int) -> list[int]:
    """For each task 0 .. tasks - 1, the smallest non-negative INT that hash partitioning into `tasks` sends there
    (about tasks * ln(tasks) values are tried)."""
    if tasks < 1:
        raise ValueError(f"tasks must be at least 1, got {tasks}")
    found: dict[int, int] = {}
    value = 0
    while len(found) < tasks:
        found.setdefault(task_of(value, tasks), value)
        value += 1
    return [found[task] for task in range(tasks)]
