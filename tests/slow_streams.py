"""`python -m tests.slow_streams`: the slow tier (`pytest -m slow`) as two pytest processes side by side.

Much of a slow drill is waiting, not computing: the AWS provider's fixed waits inside `terraform apply`, job processes
starting, polls of the local cloud and of runs. One stream leaves a core idle for much of that time; two streams on
the 2 cores of CI finish the tier in well under the time one takes (see the README's test table).

Stream "a" runs the files named in STREAM_A; stream "b" runs every other slow test, so a new slow file is never left
out. Each stream is its own pytest session (its own temporary folders, local clouds and free ports) and writes to its
own log, printed whole when it ends. Extra pytest options pass through PYTEST_ADDOPTS or the command line.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = REPO_ROOT / ".cache" / "test-slow"
NO_TESTS_COLLECTED = 5

# Balanced by the durations of a whole slow run (`--durations`): stream "b" keeps the rest. Files only: pytest does
# not apply --ignore to a folder that is one of its testpaths, so a folder here would run in both streams.
STREAM_A = (
    "tests/component/test_awsglue_bench.py",
    "tests/component/test_bench_smoke_runs.py",
    "tests/component/test_job_concurrency.py",
    "tests/infra/test_checkov.py",
    "tests/integration/test_drill_hostile_pipeline.py",
    "tests/integration/test_emulator_terraform.py",
    "tests/integration/test_emulator_state.py",
    "tests/integration/test_deploy_local.py",
    "tests/integration/test_local_cloud_restart.py",
)


def stream_commands(python: str, extra: list[str]) -> dict[str, list[str]]:
    """The pytest command line of each stream."""
    # -u: each log fills as its stream goes (`tail -f` it), not in blocks
    base = [python, "-u", "-m", "pytest", "-m", "slow", "-q", "-p", "no:cacheprovider", *extra]
    return {
        "a": [*base, *STREAM_A],
        "b": [*base, *(f"--ignore={path}" for path in STREAM_A)],
    }


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """End the streams this run started the way Ctrl-C does, so that each pytest tears its fixtures down (its local
    clouds, servers and job processes); a terminal's Ctrl-C has already reached them, so give them a moment first."""
    for grace, action in ((10, "interrupt"), (120, "kill")):
        deadline = time.monotonic() + grace
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                if action == "interrupt":
                    process.send_signal(signal.SIGINT)
                else:
                    process.kill()
    for process in processes:
        process.wait()


def run(extra: list[str]) -> int:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    codes: dict[str, int] = {}
    # Before the first stream starts: from then on a SIGTERM ends the streams as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        for name, argv in stream_commands(sys.executable, extra).items():
            log = LOG_DIR / f"stream-{name}.log"
            with log.open("wb") as out:
                running[name] = (subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT), log)
            print(f"slow tier, stream {name}: {' '.join(argv[4:])} (log: {log.relative_to(REPO_ROOT)})", flush=True)
        while running:
            for name, (process, log) in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                del running[name]
                codes[name] = code
                minutes, seconds = divmod(int(time.monotonic() - started), 60)
                print(
                    f"\n===== slow tier, stream {name}: exit {code} after {minutes} min {seconds} s =====", flush=True
                )
                sys.stdout.buffer.write(log.read_bytes())
                sys.stdout.flush()
            time.sleep(1)
    except KeyboardInterrupt:
        _stop([process for process, _ in running.values()])
        raise
    failed = {name: code for name, code in codes.items() if code not in (0, NO_TESTS_COLLECTED)}
    if failed:
        print(f"slow tier failed: {', '.join(f'stream {name} exit {code}' for name, code in failed.items())}")
        return next(iter(failed.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
