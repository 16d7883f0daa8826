"""How `make test-slow` splits the slow tier into two pytest streams (tests/slow_streams.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests import slow_streams

REPO_ROOT = Path(__file__).resolve().parents[2]


def _slow_files(path: Path) -> list[Path]:
    files = [path] if path.is_file() else sorted(path.rglob("test_*.py"))
    return [file for file in files if "mark.slow" in file.read_text()]


def test_every_path_of_stream_a_is_a_file_that_holds_slow_tests() -> None:
    for path in slow_streams.STREAM_A:
        # A folder would also run in stream b: pytest does not apply --ignore to a folder of its testpaths.
        assert (REPO_ROOT / path).is_file(), path
        assert _slow_files(REPO_ROOT / path), f"{path} holds no slow test"


def test_stream_b_runs_every_other_slow_test_and_both_pass_options_through() -> None:
    commands = slow_streams.stream_commands("python", ["--durations=5"])
    a, b = commands["a"], commands["b"]
    for argv in (a, b):
        assert argv[:6] == ["python", "-u", "-m", "pytest", "-m", "slow"] and "--durations=5" in argv
    assert a[-len(slow_streams.STREAM_A) :] == list(slow_streams.STREAM_A)
    ignored = [arg.removeprefix("--ignore=") for arg in b if arg.startswith("--ignore=")]
    assert ignored == list(slow_streams.STREAM_A)
    # Stream b names no path: pytest's testpaths, less stream a, so a new slow file always runs somewhere.
    assert not [arg for arg in b if arg.startswith("tests/")]
    every_slow_file = {
        file
        for root in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
            "testpaths"
        ]
        for file in _slow_files(REPO_ROOT / root)
    }
    in_a = {file for path in slow_streams.STREAM_A for file in _slow_files(REPO_ROOT / path)}
    assert in_a < every_slow_file  # stream b has some of them too
