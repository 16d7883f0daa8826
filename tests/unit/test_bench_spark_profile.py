"""bench/spark_profile.py on a hand-written event log: stages and jobs attributed to the phase that started them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import spark_profile


def _events() -> list[dict]:
    def task(stage: int, run_ms: int, cpu_ns: int, rows: int) -> dict:
        return {
            "Event": "SparkListenerTaskEnd",
            "Stage ID": stage,
            "Task Metrics": {
                "Executor Run Time": run_ms,
                "Executor CPU Time": cpu_ns,
                "JVM GC Time": 10,
                "Input Metrics": {"Records Read": rows},
                "Shuffle Read Metrics": {"Remote Bytes Read": 0, "Local Bytes Read": 5},
                "Shuffle Write Metrics": {"Shuffle Bytes Written": 2**20},
            },
        }

    def stage(stage_id: int, name: str, start: int, end: int) -> dict:
        info = {"Stage ID": stage_id, "Stage Name": name, "Number of Tasks": 2, "Submission Time": start}
        return {"Event": "SparkListenerStageCompleted", "Stage Info": info | {"Completion Time": end}}

    return [
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Submission Time": 1000, "Stage IDs": [0],
         "Properties": {"spark.job.description": "read_and_classify"}},
        task(0, 3000, 2_000_000_000, 100),
        task(0, 1000, 500_000_000, 50),
        stage(0, "collect at /x/covid_transform.py:12", 1000, 4000),
        {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 4500},
        {"Event": "SparkListenerJobStart", "Job ID": 1, "Submission Time": 5000, "Stage IDs": [1], "Properties": {}},
        task(1, 200, 100_000_000, 0),
        stage(1, "parquet at NativeMethodAccessorImpl.java:0", 5000, 5200),
        {"Event": "SparkListenerJobEnd", "Job ID": 1, "Completion Time": 5300},
    ]  # fmt: skip


def test_stages_and_jobs_are_summed_per_phase_beside_the_manifest_seconds() -> None:
    stages, jobs = spark_profile.summarise(_events())

    assert [(s.stage_id, s.phase, s.tasks) for s in stages] == [
        (0, "read_and_classify", 2),
        (1, spark_profile.NO_PHASE, 2),
    ]
    first = stages[0]
    assert (first.wall_seconds, first.run_seconds, first.cpu_seconds) == (3.0, 4.0, 2.5)
    assert (first.input_rows, first.shuffle_read_bytes, first.shuffle_write_bytes) == (150, 10, 2 * 2**20)
    assert jobs == {0: ("read_and_classify", 3.5), 1: (spark_profile.NO_PHASE, pytest.approx(0.3))}

    phases = spark_profile.by_phase(stages, jobs, {"list_inputs": 0.2, "read_and_classify": 4.1})
    assert [(p.phase, p.seconds, p.jobs, p.stages) for p in phases] == [
        ("list_inputs", 0.2, 0, 0),
        ("read_and_classify", 4.1, 1, 1),
        (spark_profile.NO_PHASE, None, 1, 1),
    ]
    assert phases[1].cpu_seconds == 2.5


def test_the_profile_section_compares_the_job_with_its_floor(tmp_path: Path) -> None:
    job_log, floor_log = tmp_path / "job", tmp_path / "floor"
    job_log.write_text("".join(json.dumps(e) + "\n" for e in _events()))
    floor_log.write_text("".join(json.dumps(e) + "\n" for e in _events()[:5]))

    section = spark_profile.full_refresh_profile(
        job_log, {"phase_seconds": {"read_and_classify": 4.1}, "duration_seconds": 5.0}, floor_log, "tiny"
    )

    assert "Spark tasks: 4.2 s run, 2.6 s CPU; the floor's: 4.0 s run, 2.5 s CPU (CPU ratio 1.04)" in section
    assert "| read_and_classify | 4.1 | 1 | 1 | 3.5 | 4.0 | 2.5 | 0.0 |" in section
    assert "| 0 | read_and_classify | collect at covid_transform.py:12 | 2 | 3.0 | 4.0 | 2.5 |" in section
