"""bandit over the code that ships or runs the pipeline: no high-severity finding.

One bandit process scans the package, the job, the handlers and the scripts together with a control file that holds
a known high-severity pattern, so the test also shows that the scanner really ran and reports what it should.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from covid_pipeline.config import REPO_ROOT

SCANNED = ("src", "glue_job", "lambda", "scripts")
CONTROL = "import subprocess\n\n\ndef run(command: str) -> None:\n    subprocess.call(command, shell=True)\n"


def test_bandit_finds_no_high_severity_issue(tmp_path: Path) -> None:
    control = tmp_path / "control_shell_true.py"
    control.write_text(CONTROL)
    completed = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-r", *SCANNED, str(control), "--severity-level", "high", "-f", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode in (0, 1), f"bandit crashed ({completed.returncode}):\n{completed.stderr[-3000:]}"
    report = json.loads(completed.stdout)
    assert report["errors"] == []
    findings = [f"{r['test_id']} {r['filename']}:{r['line_number']} {r['issue_text']}" for r in report["results"]]
    ours = [finding for finding in findings if str(control) not in finding]
    assert not ours, "\n".join(ours)
    assert [r["test_id"] for r in report["results"]] == ["B602"]  # the control's shell=True
    assert report["metrics"]["_totals"]["loc"] > 10_000  # the whole tree was scanned
