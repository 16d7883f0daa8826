"""The awsglue bench step on a few generated daily reports, so that `make bench` cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import awsglue_bench
from covid_pipeline import sample_data

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # a minute of Spark: with the slow drills


def test_the_bench_times_dynamic_frames_against_dataframes_in_one_process(tmp_path: Path) -> None:
    dataset = sample_data.generate(tmp_path / "reports")
    latest_era = [f.path for f in dataset.files if f.era == dataset.files[-1].era][-3:]
    rows = awsglue_bench.frames_vs_dataframes(latest_era, repeats=1, label="3 files")
    assert [r.benchmark for r in rows] == [
        "awsglue DynamicFrame apply_mapping (3 files)",
        "awsglue DynamicFrame resolve_choice (3 files)",
    ]
    for row in rows:
        assert row.value > 0 and row.baseline_value and row.ratio == pytest.approx(row.value / row.baseline_value)
        assert row.target == "ratio <= 1.2" and row.met == (row.ratio <= 1.2)
        assert ", 1 header layouts, noop sink" in row.notes
