"""The benchmark harness's own parts, without Spark, so `make bench` cannot rot between benchmark runs (its smoke runs
on tiny generated input: tests/component/test_bench_smoke_runs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import harness
from bench.query_bench import read_queries


def test_query_file_parses_into_titled_statements() -> None:
    queries = read_queries()
    assert len(queries) >= 3
    assert all(sql.upper().startswith(("SELECT", "WITH")) for _, sql in queries)
    assert any("one month" in title.lower() for title, _ in queries)


def test_readme_table_is_replaced_between_the_markers(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{harness.README_START}\nold\n{harness.README_END}\nafter\n")
    assert harness.update_readme("| new |\n", readme)
    assert readme.read_text() == f"intro\n{harness.README_START}\n| new |\n{harness.README_END}\nafter\n"
    unmarked = tmp_path / "unmarked.md"
    unmarked.write_text("no markers\n")
    assert not harness.update_readme("| new |\n", unmarked)
    assert unmarked.read_text() == "no markers\n"


def test_a_partial_run_keeps_the_earlier_rows_it_did_not_measure_marked_with_their_date() -> None:
    old = harness.Result(benchmark="job", metric="wall time", value=100.0, unit="s", notes="rows 10")
    replaced = harness.Result(benchmark="e2e", metric="wall time", value=50.0, unit="s")
    previous = {"measured_at": "2026-01-01T00:00:00Z", "results": [vars(old), vars(replaced)]}
    new = harness.Result(benchmark="e2e", metric="wall time", value=30.0, unit="s")

    merged = harness.merge_previous([new], previous)

    assert [(r.benchmark, r.value) for r in merged] == [("job", 100.0), ("e2e", 30.0)]
    assert merged[0].notes == "rows 10; measured 2026-01-01T00:00:00Z"
    # Kept again by a later partial run: still dated by when it was measured.
    again = harness.merge_previous([new], {"measured_at": "2026-02-01T00:00:00Z", "results": [vars(merged[0])]})
    assert again[0].notes == "rows 10; measured 2026-01-01T00:00:00Z"


def test_replicas_are_distinct_files_to_the_job(tmp_path: Path) -> None:
    """Each replica must resolve to its own path: the job keys rows by resolved path, as Spark reports it."""
    from bench import datasets

    source = tmp_path / "source"
    source.mkdir()
    (source / "01-22-2020.csv").write_text("Province/State,Country/Region\n,China\n")
    made = datasets.link_files([source / "01-22-2020.csv"], tmp_path / "x", year_shift=4)
    made += datasets.link_files([source / "01-22-2020.csv"], tmp_path / "x", year_shift=8)
    assert [p.name for p in made] == ["01-22-2024.csv", "01-22-2028.csv"]
    assert not any(p.is_symlink() for p in made)
    assert len({p.resolve() for p in made}) == 2
    assert made[0].read_text() == (source / "01-22-2020.csv").read_text()


def test_process_tree_peak_memory_is_measured() -> None:
    seconds, peak = harness.run_command(["python3", "-c", "x = bytearray(150_000_000); import time; time.sleep(0.4)"])
    assert seconds > 0.3
    assert peak > 150_000_000


def test_a_failed_command_reports_its_error_above_spark_s_shutdown_noise(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "print('Traceback (most recent call last):', file=sys.stderr)\n"
        "print('ValueError: the real reason', file=sys.stderr)\n"
        "for i in range(5000):\n"
        "    print(f'26/11/27 06:05:07 WARN BlockManager: Block rdd_35_{i} could not be removed', file=sys.stderr)\n"
        "sys.exit(1)\n"
    )
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(RuntimeError) as failure:
        harness.run_command(["python3", "-c", script], log_path=log)
    tail = str(failure.value).rsplit(f"{log}):\n", 1)[1]
    assert tail.splitlines() == ["Traceback (most recent call last):", "ValueError: the real reason"]
    assert str(log) in str(failure.value)
    assert log.read_text().count("BlockManager") == 5000  # the full output is kept


def test_tree_resident_pages_count_a_child_sharing_its_parents_memory_once() -> None:
    java = (7, 0, 0, 0, 0, 0, 0)
    processes = {
        1: (0, (10, 5, 1, 1, 0, 3, 0)),  # the harness: not in the tree
        100: (1, (50, 20, 2, 1, 0, 10, 0)),  # the driver
        101: (100, (900, 700, 5, 1, 0, 600, 0)),  # its JVM
        102: (101, (900, 700, 5, 1, 0, 600, 0)),  # the JVM's spawned child before its exec: the JVM's memory
        103: (101, java),  # a command the JVM runs
        104: (103, (7, 0, 0, 0, 0, 0, 0)),  # equal to its parent's, both empty: adds nothing either way
    }
    assert harness.tree_resident_pages(processes, 100) == 20 + 700
    assert harness.tree_resident_pages(processes, 101) == 700
    assert harness.tree_resident_pages(processes, 999) == 0
