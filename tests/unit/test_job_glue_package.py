"""The --extra-py-files zip: every glue_job module except the entry, importable from the zip's root."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from covid_pipeline.glue_package import build_extra_py_files_zip, zip_names


def test_zip_holds_the_modules_but_not_the_entry(tmp_path: Path, repo_root: Path) -> None:
    archive = build_extra_py_files_zip(tmp_path / "libs.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert "covid_transform.py" not in names
    for expected in ("schema_evolution.py", "data_quality_checks.py", "incremental.py", "utils/__init__.py",
                     "utils/transformations.py", "utils/validators.py", "utils/storage.py"):  # fmt: skip
        assert expected in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert names == zip_names()
    assert "covid_pipeline/input_rules.py" in names  # shared with the S3 event handler
    # Same sources, same bytes: uploads are skipped when nothing changed.
    assert build_extra_py_files_zip(tmp_path / "again.zip").read_bytes() == archive.read_bytes()
    assert build_extra_py_files_zip(tmp_path).name == "glue_job_libs.zip"


def test_modules_import_from_the_zip_root(tmp_path: Path) -> None:
    archive = build_extra_py_files_zip(tmp_path / "libs.zip")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import schema_evolution, incremental; from utils.transformations import COUNTRY_ALIASES; "
        "from utils import validators; from covid_pipeline import input_rules; print(schema_evolution.__file__); "
        "print(input_rules.__file__)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(archive)], capture_output=True, text=True, check=False,
                            cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert all(line.startswith(str(archive)) for line in result.stdout.splitlines()), result.stdout
