"""Where a Spark run's time goes, from Spark's own event log: per stage and per phase of the job.

The job names each phase on the Spark jobs it starts (the job description, see glue_job/covid_transform.py's
PhaseClock), so every stage in the log can be put beside the manifest's ``phase_seconds``. Spark records per
stage its wall time (submission to completion) and, summed over its tasks, the executors' run time, CPU time,
GC time, input rows and shuffle bytes: what a stage costs beyond waiting.

    python -m bench.spark_profile <event log file> [<manifest.json>]
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NO_PHASE = "(no phase)"
LISTING = "(Spark's own file listing)"
DESCRIPTION = "spark.job.description"
# The job's phases in the order they run (the manifest's phase_seconds is written with sorted keys).
PHASE_ORDER = (
    "list_inputs", "sniff_files", "read_and_classify", "plan_and_count", "transform_and_count", "data_quality",
    "publish", "ledger_and_catalog",
)  # fmt: skip


@dataclass
class StageSummary:
    stage_id: int
    name: str
    phase: str
    tasks: int = 0
    wall_seconds: float = 0.0
    run_seconds: float = 0.0  # executor run time, summed over tasks
    cpu_seconds: float = 0.0
    gc_seconds: float = 0.0
    input_rows: int = 0
    shuffle_read_bytes: int = 0
    shuffle_write_bytes: int = 0
    spill_bytes: int = 0
    job_ids: list[int] = field(default_factory=list)


@dataclass
class PhaseSummary:
    phase: str
    seconds: float | None  # the manifest's phase_seconds
    jobs: int = 0
    stages: int = 0
    job_wall_seconds: float = 0.0  # Spark jobs' submission to completion (jobs run one after another)
    run_seconds: float = 0.0
    cpu_seconds: float = 0.0
    gc_seconds: float = 0.0


def read_events(path: Path) -> list[dict[str, Any]]:
    with path.open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def summarise(events: list[dict[str, Any]]) -> tuple[list[StageSummary], dict[int, tuple[str, float]]]:
    """Stages (in order) and, per Spark job, its phase and wall seconds."""
    stage_phase: dict[int, str] = {}
    stage_jobs: dict[int, list[int]] = defaultdict(list)
    job_phase: dict[int, str] = {}
    job_start: dict[int, float] = {}
    jobs: dict[int, tuple[str, float]] = {}
    stages: dict[int, StageSummary] = {}
    for event in events:
        kind = event.get("Event")
        if kind == "SparkListenerJobStart":
            job_id = event["Job ID"]
            phase = (event.get("Properties") or {}).get(DESCRIPTION) or NO_PHASE
            if phase.startswith("Listing leaf files"):  # Spark describes these jobs itself
                phase = LISTING
            job_phase[job_id] = phase
            job_start[job_id] = event.get("Submission Time", 0) / 1000
            for stage_id in event.get("Stage IDs", []):
                stage_phase.setdefault(stage_id, phase)
                stage_jobs[stage_id].append(job_id)
        elif kind == "SparkListenerJobEnd":
            job_id = event["Job ID"]
            ended = event.get("Completion Time", 0) / 1000
            jobs[job_id] = (job_phase.get(job_id, NO_PHASE), max(0.0, ended - job_start.get(job_id, ended)))
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            stage_id = info["Stage ID"]
            summary = stages.setdefault(stage_id, StageSummary(stage_id, "", stage_phase.get(stage_id, NO_PHASE)))
            summary.name = info.get("Stage Name", "")  # its tasks' ends come first
            summary.tasks = info.get("Number of Tasks", 0)
            submitted, completed = info.get("Submission Time"), info.get("Completion Time")
            if submitted and completed:
                summary.wall_seconds = (completed - submitted) / 1000
            summary.job_ids = stage_jobs.get(stage_id, [])
        elif kind == "SparkListenerTaskEnd":
            metrics = event.get("Task Metrics") or {}
            stage_id = event["Stage ID"]
            summary = stages.setdefault(stage_id, StageSummary(stage_id, "", stage_phase.get(stage_id, NO_PHASE)))
            summary.run_seconds += metrics.get("Executor Run Time", 0) / 1000
            summary.cpu_seconds += metrics.get("Executor CPU Time", 0) / 1e9
            summary.gc_seconds += metrics.get("JVM GC Time", 0) / 1000
            summary.input_rows += (metrics.get("Input Metrics") or {}).get("Records Read", 0)
            shuffle_read = metrics.get("Shuffle Read Metrics") or {}
            summary.shuffle_read_bytes += shuffle_read.get("Remote Bytes Read", 0) + shuffle_read.get(
                "Local Bytes Read", 0
            )
            summary.shuffle_write_bytes += (metrics.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
            summary.spill_bytes += metrics.get("Disk Bytes Spilled", 0)
    return sorted(stages.values(), key=lambda s: s.stage_id), jobs


def by_phase(
    stages: list[StageSummary], jobs: dict[int, tuple[str, float]], phase_seconds: dict[str, float]
) -> list[PhaseSummary]:
    """One row per phase of the manifest (in the order they ran), plus any phase only Spark saw."""
    phases: dict[str, PhaseSummary] = {name: PhaseSummary(name, seconds) for name, seconds in phase_seconds.items()}
    for phase, seconds in jobs.values():
        row = phases.setdefault(phase, PhaseSummary(phase, None))
        row.jobs += 1
        row.job_wall_seconds += seconds
    for stage in stages:
        row = phases.setdefault(stage.phase, PhaseSummary(stage.phase, None))
        row.stages += 1
        row.run_seconds += stage.run_seconds
        row.cpu_seconds += stage.cpu_seconds
        row.gc_seconds += stage.gc_seconds
    known = {name: index for index, name in enumerate(PHASE_ORDER)}
    return sorted(phases.values(), key=lambda row: known.get(row.phase, len(known)))


def phase_table(rows: list[PhaseSummary]) -> str:
    lines = [
        "| phase | manifest s | Spark jobs | stages | jobs' wall s | task run s | task CPU s | GC s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seconds = f"{r.seconds:.1f}" if r.seconds is not None else ""
        lines.append(
            f"| {r.phase} | {seconds} | {r.jobs} | {r.stages} | {r.job_wall_seconds:.1f} | {r.run_seconds:.1f} "
            f"| {r.cpu_seconds:.1f} | {r.gc_seconds:.1f} |"
        )
    return "\n".join(lines)


def stage_table(stages: list[StageSummary], top: int | None = None) -> str:
    """The stages, most task time first (all of them without ``top``)."""
    chosen = sorted(stages, key=lambda s: -s.run_seconds)[:top] if top else stages
    lines = [
        "| stage | phase | what | tasks | wall s | task run s | CPU s | GC s | input rows | shuffle write MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in chosen:
        action, _, where = s.name.partition(" at ")
        what = f"{action} at {Path(where).name}" if where else action
        lines.append(
            f"| {s.stage_id} | {s.phase} | {what} | {s.tasks} | {s.wall_seconds:.1f} | {s.run_seconds:.1f} "
            f"| {s.cpu_seconds:.1f} | {s.gc_seconds:.1f} | {s.input_rows:,} | {s.shuffle_write_bytes / 2**20:.1f} |"
        )
    return "\n".join(lines)


def totals(stages: list[StageSummary]) -> tuple[float, float]:
    """Task run seconds and task CPU seconds over all stages."""
    return sum(s.run_seconds for s in stages), sum(s.cpu_seconds for s in stages)


def full_refresh_profile(job_log: Path, manifest: dict[str, Any], floor_log: Path, label: str, top: int = 12) -> str:
    """The markdown section `make bench` writes under its table: the job's phases with the Spark work each
    started, its costliest stages, and the task time of the job against its floor's (the CPU seconds are the
    less noisy figure on a shared machine: they leave out time spent waiting for a core)."""
    stages, jobs = summarise(read_events(job_log))
    floor_stages, _ = summarise(read_events(floor_log))
    (run, cpu), (floor_run, floor_cpu) = totals(stages), totals(floor_stages)
    phase_seconds = manifest.get("phase_seconds", {})
    return (
        f"### Where the full refresh's time goes ({label}, fresh process, last repeat)\n\n"
        f"From Spark's event log of the run: each phase of the manifest's `phase_seconds` with the Spark jobs it "
        f"started. Job total {manifest.get('duration_seconds', 0):.1f} s in `run_job`. Spark tasks: "
        f"{run:.1f} s run, {cpu:.1f} s CPU; the floor's: {floor_run:.1f} s run, {floor_cpu:.1f} s CPU "
        f"(CPU ratio {cpu / max(floor_cpu, 1e-9):.2f}).\n\n"
        + phase_table(by_phase(stages, jobs, phase_seconds))
        + f"\n\nThe {top} stages with the most task time:\n\n"
        + stage_table(stages, top)
        + "\n"
    )


def profile_markdown(event_log: Path, phase_seconds: dict[str, float], top: int = 12) -> str:
    stages, jobs = summarise(read_events(event_log))
    return phase_table(by_phase(stages, jobs, phase_seconds)) + "\n\n" + stage_table(stages, top)


def event_log_file(folder: Path) -> Path:
    """The one event log Spark wrote into ``folder`` (one application per folder)."""
    (found,) = [p for p in folder.iterdir() if p.is_file()]
    return found


if __name__ == "__main__":
    manifest = json.loads(Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else {}
    print(profile_markdown(Path(sys.argv[1]), manifest.get("phase_seconds", {}), top=0))
