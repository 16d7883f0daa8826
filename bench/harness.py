"""Shared benchmark machinery: medians, peak memory of child processes, the machine, the results files.

Figures are never asserted in tests; they are measured here, written to
bench/results/latest.json and latest.md, and pasted into the README between
the bench markers.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from covid_pipeline.spark_env import SPARK_LOG_LINE

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
WORK_DIR = RESULTS_DIR / "tmp"
SHARED_DATA = Path(os.environ.get("COVID_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass
class Measurement:
    """One timed command or function: wall seconds and peak RSS (bytes) of each repeat."""

    seconds: list[float] = field(default_factory=list)
    peak_rss_bytes: list[int] = field(default_factory=list)

    def add(self, seconds: float, peak_rss_bytes: int) -> None:
        self.seconds.append(seconds)
        self.peak_rss_bytes.append(peak_rss_bytes)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def max_rss_bytes(self) -> int:
        return max(self.peak_rss_bytes, default=0)


@dataclass
class Result:
    """A row of the results table."""

    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    runs: int = 1
    notes: str = ""

    def as_row(self) -> list[str]:
        ratio = f"{self.ratio:.2f}" if self.ratio is not None else ""
        base = f"{self.baseline} {self.baseline_value:.2f}" if self.baseline_value is not None else self.baseline
        met = {True: "yes", False: "**no**", None: ""}[self.met]
        return [self.benchmark, self.metric, f"{self.value:.2f} {self.unit}", base, ratio, self.target, met, self.notes]


def _tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of root_pid and all its descendants (the Python driver plus its JVM), from /proc."""
    processes: dict[int, tuple[int, tuple[int, ...]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                statm = tuple(int(value) for value in handle.read().split())
        except (OSError, IndexError, ValueError):
            continue
        processes[int(entry)] = (int(fields[1]), statm)
    return tree_resident_pages(processes, root_pid) * os.sysconf("SC_PAGE_SIZE")


def tree_resident_pages(processes: dict[int, tuple[int, tuple[int, ...]]], root_pid: int) -> int:
    """Sum of resident pages (statm's second field) over root_pid's tree; `processes`: pid -> (parent, statm).

    A child whose statm equals its parent's field for field shares its parent's memory and is counted once: a
    JVM runs commands (Hadoop's local file system runs `chmod` without its native library) through posix_spawn,
    whose child lives in the parent's address space until it execs and meanwhile reports the parent's whole
    resident size."""
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in processes.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        if pid not in processes:
            continue
        parent, statm = processes[pid]
        if pid != root_pid and parent in processes and processes[parent][1] == statm:
            continue
        total += statm[1]
    return total


def failure_tail(output: str, limit: int = 3000) -> str:
    """The end of a failed run's output without Spark's INFO/WARN lines: at shutdown Spark can print thousands
    of them (one per cached block it drops), burying the traceback or error the run ended with."""
    meaningful = [line for line in output.splitlines() if line.strip() and not SPARK_LOG_LINE.match(line)]
    return "\n".join(meaningful)[-limit:]


def run_command(
    argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None, log_path: Path | None = None
) -> tuple[float, int]:
    """Run argv to completion; return (wall seconds, peak RSS in bytes of its whole process tree).

    The tree is sampled every 0.1 s: ru_maxrss would miss the JVM that a Python driver starts. The output goes
    to ``log_path`` (kept) or a temporary file; a failure raises with its meaningful lines (see ``failure_tail``).
    """
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w+b") if log_path is not None else tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss_bytes(process.pid))
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            log.seek(0)
            tail = failure_tail(log.read().decode(errors="replace"))
            where = f" (full output: {log_path})" if log_path is not None else ""
            raise RuntimeError(f"{' '.join(argv[:3])}... exited {process.returncode}{where}:\n{tail}")
    return seconds, peak


def repeat(fn: Callable[[], Any], repeats: int, setup: Callable[[], Any] | None = None) -> Measurement:
    """Median-ready timings of fn(); setup() runs before each repeat, untimed."""
    measurement = Measurement()
    for _ in range(repeats):
        if setup is not None:
            setup()
        started = time.perf_counter()
        fn()
        measurement.seconds.append(time.perf_counter() - started)
    return measurement


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import duckdb
    import pyspark

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    mem_kib = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kib = int(re.findall(r"\d+", line)[0])
    cpu = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "java": java[0] if java else "",
        "pyspark": pyspark.__version__,
        "duckdb": duckdb.__version__,
        "os": platform.platform(),
    }


def table_markdown(results: Sequence[Result]) -> str:
    header = ["benchmark", "metric", "value", "baseline", "ratio", "target", "met", "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(result.as_row()) + " |" for result in results]
    return "\n".join(lines)


def merge_previous(results: Sequence[Result], previous: dict[str, Any]) -> list[Result]:
    """The new rows plus the earlier run's rows of benchmarks not measured now, each marked with its date."""
    measured = {(r.benchmark, r.metric) for r in results}
    when = str(previous.get("measured_at", "an earlier run"))
    kept = []
    for row in previous.get("results", []):
        if (row["benchmark"], row["metric"]) in measured:
            continue
        old = Result(**row)
        if "measured " not in old.notes:
            old.notes = f"{old.notes}; measured {when}" if old.notes else f"measured {when}"
        kept.append(old)
    return [*kept, *results]


def write_results(
    results: Sequence[Result], info: dict[str, Any], smoke: bool, merge: bool = False, sections: Sequence[str] = ()
) -> Path:
    """latest.json + latest.md (smoke runs write smoke.* so they never overwrite real figures). ``merge`` keeps
    the earlier rows of benchmarks this run did not measure (and the earlier sections when none were made now).
    ``sections``: markdown written below the table (the full refresh's profile)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = "smoke" if smoke else "latest"
    previous_file = RESULTS_DIR / f"{stem}.json"
    if merge and previous_file.is_file():
        previous = json.loads(previous_file.read_text())
        results = merge_previous(results, previous)
        sections = list(sections) or list(previous.get("sections", []))
    payload = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": info,
        "results": [asdict(r) for r in results],
        "sections": list(sections),
    }
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n")
    shown = ("cores", "memory_gib", "python", "pyspark", "duckdb")
    described = ", ".join(f"{key} {info[key]}" for key in shown if key in info)
    markdown = f"Measured {payload['measured_at']} on {described} ({info.get('cpu', '')}).\n\n"
    markdown += table_markdown(results) + "\n"
    markdown += "".join(f"\n{section.rstrip()}\n" for section in sections)
    path = RESULTS_DIR / f"{stem}.md"
    path.write_text(markdown)
    return path


def update_readme(markdown: str, readme: Path = REPO_ROOT / "README.md") -> bool:
    """Replace the README's table between the bench markers; False when the markers are missing."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{markdown}{README_END}{tail}")
    return True


def print_table(results: Sequence[Result]) -> None:
    print(table_markdown(results))
