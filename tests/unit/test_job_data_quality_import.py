"""Great Expectations' import in a fresh job process: the modules it imports for expectations the gate never uses
load on first use, and the gate's verdicts need none of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import data_quality_checks as dq

GLUE_JOB = Path(__file__).resolve().parents[2] / "glue_job"

# A fresh interpreter, as a job process starts: the gate built and judged (on no rows, which every check still
# evaluates), then each deferred module used.
SCRIPT = """
import json, sys
import data_quality_checks as dq
dq.preload()
kinds = lambda: {name: type(sys.modules[name]).__name__ for name in sorted(dq.LOADED_ON_FIRST_USE)}
after_import = kinds()
gate = dq.metric_pass(dq.build_checks("jhu_daily"))
report = dq.evaluate(gate, gate.values([]))
after_gate = kinds()
import altair, scipy.stats
print(json.dumps({
    "after_import": after_import,
    "after_gate": after_gate,
    "checks": len(report.results),
    "errors": [r["error"] for r in report.results if "error" in r],
    "norm_cdf_0": scipy.stats.norm.cdf(0.0),
    "altair_chart": altair.Chart.__name__,
    "after_use": kinds(),
}))
"""


def test_modules_the_gate_never_uses_load_only_when_used() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(GLUE_JOB), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    deferred = dict.fromkeys(sorted(dq.LOADED_ON_FIRST_USE), "_LazyModule")
    assert found["after_import"] == deferred
    assert found["after_gate"] == deferred  # judging the checks loaded none of them
    assert found["checks"] == len(dq.build_checks("jhu_daily")) and found["errors"] == []
    assert found["norm_cdf_0"] == 0.5 and found["altair_chart"] == "Chart"
    assert found["after_use"] == dict.fromkeys(deferred, "module")
