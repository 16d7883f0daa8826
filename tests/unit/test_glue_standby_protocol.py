"""The warm worker's bookkeeping, without Spark: how a run's output is told from what comes between
runs, and what a run leaves behind in the interpreter (modules, working directory, environment, logging)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from covid_pipeline.local.glue_warm_pool import WarmWorker
from covid_pipeline.local.glue_warm_worker import (
    READY_LINE,
    RUN_END_LINE,
    _ProcessState,
    end_of_run_line,
    exit_code,
    forget_modules,
    parse_end_of_run,
)

# A stand-in for the warm process that speaks its protocol: warm-up output, ready line, one run per stdin line.
FAKE_PROCESS = textwrap.dedent(
    f"""
    import sys
    print("warming up", file=sys.stderr, flush=True)
    print({READY_LINE!r}, file=sys.stderr, flush=True)
    for line in iter(sys.stdin.readline, ""):
        code = int(line)
        print("run output", flush=True)
        print("run error line", file=sys.stderr, flush=True)
        for stream in (sys.stdout, sys.stderr):
            print(f"{RUN_END_LINE} rc={{code}} reuse={{int(code == 0)}}", file=stream, flush=True)
        if code:
            sys.exit(code)
        print("after the run", flush=True)
        print({READY_LINE!r} + ": served", file=sys.stderr, flush=True)
    """
)


@pytest.fixture
def standby(tmp_path: Path) -> Iterator[WarmWorker]:
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_PROCESS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    yield WarmWorker(process, tmp_path, {})
    if process.poll() is None:
        process.kill()
    process.wait()


def run_once(standby: WarmWorker, code: int) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
    standby.attach({channel: lines[channel].append for channel in lines})
    assert standby.process.stdin is not None
    standby.process.stdin.write(f"{code}\n".encode())
    standby.process.stdin.flush()
    assert standby.run_ended.wait(10)
    return {channel: [line.rstrip("\n") for line in got] for channel, got in lines.items()}


def test_a_run_gets_its_own_output_and_the_warm_up_s_and_nothing_after_its_end(standby: WarmWorker) -> None:
    assert standby.ready.wait(10)

    first = run_once(standby, 0)

    assert first == {"stdout": ["run output"], "stderr": ["warming up", READY_LINE, "run error line"]}
    assert (standby.exit_code, standby.reusable, standby.runs) == (0, True, 1)
    assert standby.ready.wait(10)  # ready again after the run, for the next one
    second = run_once(standby, 0)
    # What the process printed between the runs goes to the next run, as warm-up output does.
    assert second["stdout"] == ["after the run", "run output"]
    assert second["stderr"] == [f"{READY_LINE}: served", "run error line"]
    assert standby.runs == 2


def test_a_failed_run_reports_its_exit_code_and_is_not_reused(standby: WarmWorker) -> None:
    assert standby.ready.wait(10)
    run_once(standby, 3)
    assert (standby.exit_code, standby.reusable) == (3, False)
    assert standby.process.wait(10) == 3
    assert not standby.ready.is_set()


def test_exit_code_follows_sys_exit() -> None:
    assert exit_code(SystemExit()) == 0
    assert exit_code(SystemExit(0)) == 0
    assert exit_code(SystemExit(2)) == 2
    assert exit_code(SystemExit("bad arguments")) == 1


def test_forget_modules_drops_the_run_s_own_modules_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "run_only_module.py").write_text("VALUE = 1\n")
    package = tmp_path / "run_only_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "inner.py").write_text("X = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    import json.tool  # noqa: F401  (a library the run may import: stays)

    import run_only_module  # noqa: F401
    import run_only_package.inner  # noqa: F401

    dropped = forget_modules(before, [str(tmp_path)])

    assert dropped == ["run_only_module", "run_only_package", "run_only_package.inner"]
    assert "json.tool" in sys.modules
    assert not {"run_only_module", "run_only_package", "run_only_package.inner"} & set(sys.modules)


def test_process_state_puts_back_what_a_script_changed(tmp_path: Path) -> None:
    saved = _ProcessState()
    cwd, argv, path = os.getcwd(), list(sys.argv), list(sys.path)
    handler = logging.StreamHandler()
    try:
        os.chdir(tmp_path)
        sys.argv[:] = ["script.py", "--x", "1"]
        sys.path.insert(0, str(tmp_path))
        os.environ["COVID_TEST_STANDBY_STATE"] = "left behind"
        logging.getLogger().addHandler(handler)
    finally:
        saved.restore([str(tmp_path)])
    assert (os.getcwd(), sys.argv, sys.path) == (cwd, argv, path)
    assert "COVID_TEST_STANDBY_STATE" not in os.environ
    assert handler not in logging.getLogger().handlers


def test_the_end_of_run_line_reads_back_as_written() -> None:
    assert parse_end_of_run(end_of_run_line(0, True) + "\n") == (0, True)
    assert parse_end_of_run(end_of_run_line(3, False)) == (3, False)
    assert parse_end_of_run(RUN_END_LINE) == (1, False)  # no exit code: a failure, never reused
