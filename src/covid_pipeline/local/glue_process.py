"""Process supervision of local Glue runs: how a job process is started (its own process group), read, stopped and
killed, and what a failed one's ErrorMessage says."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from covid_pipeline.spark_env import SPARK_LOG_LINE

STOP_GRACE_SECONDS = 5.0
MAX_ERROR_MESSAGE = 2048


class RunControl:
    """What the executor holds about a live run besides its API record."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.warm_worker_folder: Path | None = None
        self.stop_requested = threading.Event()
        self.stop_reason = "Job run stopped by BatchStopJobRun"
        self.thread: threading.Thread | None = None


def error_message_from(stderr_tail: list[str], returncode: int) -> str:
    """The line a Glue user would want to see: the exception line of the last Python traceback.

    Python prints ``Traceback (most recent call last):``, indented frames, then the
    exception line (``ValueError: ...``); Spark's shutdown logs may follow, so we take
    the first unindented line after the last traceback header, not the last line.
    """
    lines = [line.rstrip("\r\n") for line in stderr_tail]
    header = None
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("Traceback (most recent call last):"):
            header = index
            break
    if header is not None:
        for line in lines[header + 1 :]:
            if line.strip() and not line.startswith((" ", "\t")):
                return line[:MAX_ERROR_MESSAGE]
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"Command failed: the job process was killed by signal {name}"
    meaningful = [line for line in lines if line.strip() and not SPARK_LOG_LINE.match(line)]
    detail = next((line for line in reversed(meaningful) if re.search(r"error|exception|fail", line, re.I)), None)
    detail = detail or (meaningful[-1] if meaningful else None)
    message = f"Command failed with exit code {returncode}"
    return f"{message}: {detail.strip()}"[:MAX_ERROR_MESSAGE] if detail else message


def csv_values(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def python_module_names(specs: str | None) -> list[str]:
    """The importable names in an --additional-python-modules value (``pkg==1.2,other-lib>=3`` -> pkg, other_lib)."""
    names = []
    for spec in csv_values(specs):
        name = re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].strip()
        if re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            names.append(name.replace("-", "_"))
    return names


def output_reader(
    stream: IO[bytes] | None, sink: Callable[[str], object], name: str = "glue-run-output"
) -> threading.Thread:
    def pump() -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            sink(raw.decode("utf-8", errors="replace"))
        stream.close()

    thread = threading.Thread(target=pump, name=name, daemon=True)
    thread.start()
    return thread


def job_process(argv: list[str], cwd: Path, env: dict[str, str], stdin: int) -> subprocess.Popen[bytes]:
    """A job process in a new session: it, its Spark JVM and their children form one process group we can kill."""
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the job's process group (the script, the Spark JVM), SIGKILL what is left after a grace period."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
