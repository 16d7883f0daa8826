"""The local awsglue is never shipped to AWS: Glue provides its own. The deploy artifacts must not contain it."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

from covid_pipeline.glue_package import build_extra_py_files_zip


def shipped_names(build: Path) -> list[str]:
    """Every file the build holds, and every member of its zips."""
    names = []
    for path in build.rglob("*"):
        if path.is_file():
            names.append(path.relative_to(build).as_posix())
            if path.suffix == ".zip":
                names += [f"{path.name}!{member}" for member in zipfile.ZipFile(path).namelist()]
    return names


def test_the_glue_libs_zip_holds_neither_awsglue_nor_the_example_jobs(tmp_path: Path) -> None:
    names = zipfile.ZipFile(build_extra_py_files_zip(tmp_path / "libs.zip")).namelist()
    assert [n for n in names if n.startswith(("awsglue", "examples/"))] == []


def test_deploy_package_ships_no_awsglue(repo_root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "COVID_DEPLOY_OFFLINE": "1", "BUILD_DIR": str(tmp_path / "build")}
    result = subprocess.run(
        [str(repo_root / "scripts" / "deploy.sh"), "test", "package"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    names = shipped_names(tmp_path / "build")
    assert "glue/covid_transform.py" in names  # the build did happen
    assert [n for n in names if "awsglue" in n] == []
