"""The job's arguments, parsed the Glue way (no Spark): reserved Glue arguments, the input guards' limits, and
defaults equal to Terraform's."""

from __future__ import annotations

import re
from pathlib import Path

import covid_transform as job
import pytest

from covid_pipeline import input_rules

MIB = 1 << 20


def test_options_parse_the_glue_way() -> None:
    argv = ["script.py", "--JOB_NAME", "n", "--source", "owid", "--input_path", "i", "--output_path", "o",
            "--quarantine_path", "q", "--state_path", "s", "--reference_path", "r", "--TempDir", "t",
            "--job-bookmark-option", "job-bookmark-disable", "--catalog_table", "tbl",
            "--JOB_RUN_ID", "jr_9"]  # fmt: skip
    parsed = job.parse_options(argv)
    assert (parsed.source, parsed.catalog_table, parsed.catalog_database, parsed.run_id) == (
        "owid",
        "tbl",
        None,
        "jr_9",
    )
    assert parsed.full_refresh is False
    resolved = job.resolve_options(argv)
    assert (resolved["JOB_NAME"], resolved["JOB_RUN_ID"], resolved["job_bookmark_option"]) == (
        "n",
        "jr_9",
        "job-bookmark-disable",
    )
    with pytest.raises(SystemExit):
        job.parse_options(["script.py", "--JOB_NAME", "n"])


def test_options_parse_the_guard_arguments() -> None:
    base = ["s.py", "--JOB_NAME", "n", "--source", "jhu_daily", "--input_path", "i", "--output_path", "o",
            "--quarantine_path", "q", "--state_path", "s", "--reference_path", "r"]  # fmt: skip
    default = job.parse_options(base)
    assert (default.allow_removals, default.max_removal_share, default.poison_after_failures) == (False, 0.1, 3)
    assert (default.max_compressed_bytes, default.max_uncompressed_bytes) == (512 * MIB, 4096 * MIB)
    given = job.parse_options([*base, "--allow_removals", "true", "--max_removal_share", "0.25",
                               "--poison_after_failures", "5", "--max_compressed_bytes", "1000",
                               "--max_uncompressed_bytes", "2000"])  # fmt: skip
    assert (given.allow_removals, given.max_removal_share, given.poison_after_failures) == (True, 0.25, 5)
    assert (given.max_compressed_bytes, given.max_uncompressed_bytes) == (1000, 2000)
    for wrong in (["--max_removal_share", "2"], ["--poison_after_failures", "zero"], ["--max_compressed_bytes", "0"]):
        with pytest.raises(SystemExit, match=wrong[0]):
            job.parse_options([*base, *wrong])


def test_the_jobs_defaults_are_terraforms(repo_root: Path) -> None:
    """The job's defaults serve runs outside Terraform only; they must be the variables' defaults."""
    variables = (repo_root / "terraform" / "variables.tf").read_text()

    def default(name: str) -> float:
        block = re.search(rf'variable "{name}" {{(.*?)\n}}', variables, re.S)
        assert block, name
        return float(re.search(r"default\s*=\s*([\d.]+)", block.group(1)).group(1))

    assert default("max_input_compressed_mib") * MIB == input_rules.DEFAULT_MAX_COMPRESSED_BYTES
    assert default("max_input_uncompressed_mib") * MIB == input_rules.DEFAULT_MAX_UNCOMPRESSED_BYTES
    assert default("poison_after_failures") == input_rules.DEFAULT_POISON_AFTER_FAILURES
    assert default("max_removal_share") == input_rules.DEFAULT_MAX_REMOVAL_SHARE
