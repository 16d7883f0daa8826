"""Build the Glue job's --extra-py-files zip: every module under glue_job/ except the entry script.

Glue puts the zip on sys.path, so the entry's `import schema_evolution` and
`from utils.transformations import ...` resolve from the zip's root exactly as
they do from the glue_job/ folder in a checkout and in tests. The zip also holds
the modules of the covid_pipeline package the job shares with the Lambda
handlers (SHARED_MODULES: standard library only), under covid_pipeline/ as in
the package, so `from covid_pipeline import input_rules` resolves there too.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from covid_pipeline.config import REPO_ROOT

GLUE_JOB_DIR = REPO_ROOT / "glue_job"
ENTRY_SCRIPT = "covid_transform.py"
# examples/ holds Glue jobs of their own (with their own scripts), not modules of this one.
_EXCLUDED_PARTS = {"__pycache__", ".pytest_cache", "examples"}

# Modules of the covid_pipeline package the job imports (the key and size rules the S3 event handler applies too).
PACKAGE_DIR = REPO_ROOT / "src" / "covid_pipeline"
SHARED_MODULES = ("__init__.py", "input_rules.py")

# Fixed timestamp: the same sources always give the same bytes (no spurious re-uploads).
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def package_members(source_dir: Path = GLUE_JOB_DIR) -> list[Path]:
    """Files that go into the zip, relative to source_dir, sorted."""
    members = []
    for path in sorted(source_dir.rglob("*")):
        relative = path.relative_to(source_dir)
        if not path.is_file() or relative.as_posix() == ENTRY_SCRIPT:
            continue
        if _EXCLUDED_PARTS & set(relative.parts) or path.suffix in {".pyc", ".pyo"}:
            continue
        members.append(relative)
    return members


def shared_members(package_dir: Path = PACKAGE_DIR) -> list[tuple[str, Path]]:
    """(name in the zip, file) for the shared covid_pipeline modules."""
    return [(f"{package_dir.name}/{name}", package_dir / name) for name in SHARED_MODULES]


def zip_names(source_dir: Path = GLUE_JOB_DIR) -> list[str]:
    """Every member of the zip, in the zip's order."""
    return sorted([p.as_posix() for p in package_members(source_dir)] + [name for name, _ in shared_members()])


def build_extra_py_files_zip(dest: Path, source_dir: Path = GLUE_JOB_DIR) -> Path:
    """Write the zip to dest (a file path, or a folder to hold glue_job_libs.zip) and return its path."""
    dest = Path(dest)
    if dest.is_dir() or not dest.suffix:
        dest = dest / "glue_job_libs.zip"
    dest.parent.mkdir(parents=True, exist_ok=True)
    members = [(p.as_posix(), source_dir / p) for p in package_members(source_dir)] + shared_members()
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return dest


if __name__ == "__main__":
    import sys

    print(build_extra_py_files_zip(Path(sys.argv[1] if len(sys.argv) > 1 else "build")))
