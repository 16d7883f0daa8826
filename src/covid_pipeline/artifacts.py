"""Build the files Terraform uploads: the Glue script and its libraries, the Lambda bundle and its layer.

    <build>/glue/covid_transform.py          the job's entry script
    <build>/glue/glue_job_libs.zip           every other module of glue_job/ (--extra-py-files)
    <build>/lambda/bundle.zip                lambda/*.py + the covid_pipeline package without its local cloud + the
                                             pure-Python libraries every handler imports (Powertools), unpacked from
                                             the wheels pinned in lambda/requirements-bundle.txt
    <build>/lambda/pyarrow_layer.zip         python/pyarrow/... from the wheels pinned in lambda/requirements-layer.txt
    <build>/reference/UID_ISO_FIPS_LookUp_Table.csv   only when COVID_REFERENCE_CSV names one

Every zip is byte-for-byte reproducible (sorted members, fixed timestamps and modes), so building again from
unchanged sources gives the same ``filebase64sha256`` and Terraform plans no change. scripts/deploy.sh and the local
cloud both build through here, so what runs locally is what AWS gets.

The bundle's and the layer's wheels are downloaded once for the Lambda platform (Amazon Linux 2 for python3.11:
manylinux2014, glibc 2.17+) into .cache/lambda/ (``make setup`` does it); later builds work offline. The bundle
carries Powertools rather than the layer because every function needs it and only the warehouse loader has the
layer (130 MB of pyarrow that the others have no use for).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from covid_pipeline.config import REPO_ROOT
from covid_pipeline.errors import UserError
from covid_pipeline.glue_package import ENTRY_SCRIPT, GLUE_JOB_DIR, build_extra_py_files_zip

LAMBDA_DIR = REPO_ROOT / "lambda"
PACKAGE_DIR = REPO_ROOT / "src" / "covid_pipeline"
LAYER_REQUIREMENTS = LAMBDA_DIR / "requirements-layer.txt"
BUNDLE_REQUIREMENTS = LAMBDA_DIR / "requirements-bundle.txt"
WHEEL_CACHE = Path(os.environ.get("COVID_PIPELINE_CACHE_DIR", REPO_ROOT / ".cache")) / "lambda"
DEFAULT_BUILD_DIR = REPO_ROOT / "build"
REFERENCE_NAME = "UID_ISO_FIPS_LookUp_Table.csv"
# The python3.11 Lambda runtime runs on Amazon Linux 2 (glibc 2.26): only manylinux2014 wheels load there.
LAMBDA_PLATFORM = "manylinux2014_x86_64"
LAMBDA_PYTHON_VERSION = "3.11"

_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
# The local cloud runs on the developer's machine only; Lambda never imports it.
_BUNDLE_EXCLUDED = {"local"}


@dataclass(frozen=True)
class Artifacts:
    """Paths of one build (the names terraform/locals.tf expects under artifacts_dir)."""

    build_dir: Path

    @property
    def glue_script(self) -> Path:
        return self.build_dir / "glue" / ENTRY_SCRIPT

    @property
    def glue_libs(self) -> Path:
        return self.build_dir / "glue" / "glue_job_libs.zip"

    @property
    def lambda_bundle(self) -> Path:
        return self.build_dir / "lambda" / "bundle.zip"

    @property
    def lambda_layer(self) -> Path:
        return self.build_dir / "lambda" / "pyarrow_layer.zip"

    @property
    def reference(self) -> Path:
        return self.build_dir / "reference" / REFERENCE_NAME


def _is_packaged(relative: Path) -> bool:
    return not (_SKIPPED_PARTS & set(relative.parts)) and relative.suffix not in {".pyc", ".pyo"}


def _temporary(dest: Path) -> Path:
    """A name beside ``dest`` that no other process uses: the test suite builds from two processes at once."""
    return dest.with_name(f"{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _write_zip(dest: Path, members: Iterable[tuple[str, bytes]]) -> Path:
    """A reproducible zip: members sorted by name, one timestamp, one mode. Written beside, then moved in place,
    so a reader never sees half a file and an unchanged zip keeps its inode and mtime."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(dest)
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    if dest.is_file() and _sha256(dest) == _sha256(temporary):
        temporary.unlink()
    else:
        os.replace(temporary, dest)
    return dest


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def bundle_members(lambda_dir: Path = LAMBDA_DIR, package_dir: Path = PACKAGE_DIR) -> list[tuple[str, Path]]:
    """(name in the zip, file) for the Lambda bundle: the handlers at the root, the package beside them."""
    members = [(path.name, path) for path in sorted(lambda_dir.glob("*.py"))]
    for path in sorted(package_dir.rglob("*")):
        relative = path.relative_to(package_dir)
        if path.is_file() and _is_packaged(relative) and relative.parts[0] not in _BUNDLE_EXCLUDED:
            members.append((f"{package_dir.name}/{relative.as_posix()}", path))
    return members


def _wheel_members(wheels: list[Path], prefix: str = "") -> Iterable[tuple[str, bytes]]:
    """What ``pip install --target`` would put in place: every file of each wheel, under ``prefix``."""
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if not name.endswith("/") and _is_packaged(Path(name)):
                    yield f"{prefix}{name}", archive.read(name)


def build_lambda_bundle(dest: Path, wheels: list[Path]) -> Path:
    """The handlers and the package from the source tree, the libraries from their wheels (beside the handlers,
    where Lambda's runtime looks first)."""
    sources = ((name, path.read_bytes()) for name, path in bundle_members())
    return _write_zip(dest, [*sources, *_wheel_members(wheels)])


def pinned_requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _cached_wheels(requirements: list[str], cache: Path) -> list[Path]:
    wheels = []
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        pattern = f"{name.replace('-', '_')}-{version}-*.whl"
        found = sorted(cache.glob(pattern))
        if not found:
            return []
        wheels.append(found[0])
    return wheels


def fetch_wheels(requirements_file: Path, cache: Path = WHEEL_CACHE) -> list[Path]:
    """The wheels a requirements file pins, for the Lambda platform, downloaded once into ``cache``."""
    requirements = pinned_requirements(requirements_file)
    wheels = _cached_wheels(requirements, cache)
    if wheels:
        return wheels
    cache.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        LAMBDA_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--dest",
        str(cache),
        *requirements,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = _cached_wheels(requirements, cache)
    if result.returncode != 0 or not wheels:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise UserError(
            f"could not download the Lambda wheels ({', '.join(requirements)}) for {LAMBDA_PLATFORM}: "
            f"{detail[-1] if detail else 'pip gave no reason'}. They are fetched once into {cache}; "
            "run `make setup` where the package registry is reachable"
        )
    return wheels


def build_layer(dest: Path, wheels: list[Path], cache: Path = WHEEL_CACHE) -> Path:
    """The layer zip (python/<package>/...) from the wheels; built once per set of wheels, then copied."""
    key = hashlib.sha256("".join(sorted(wheel.name for wheel in wheels)).encode()).hexdigest()[:16]
    cached = cache / f"layer-{key}.zip"
    if not cached.is_file():
        _write_zip(cached, _wheel_members(wheels, prefix="python/"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.is_file() or dest.stat().st_size != cached.stat().st_size or _sha256(dest) != _sha256(cached):
        temporary = _temporary(dest)
        shutil.copyfile(cached, temporary)
        os.replace(temporary, dest)
    return dest


def build(build_dir: Path = DEFAULT_BUILD_DIR, reference_csv: Path | None = None) -> Artifacts:
    """Build every artifact under ``build_dir``; unchanged sources leave unchanged files."""
    artifacts = Artifacts(Path(build_dir).resolve())
    entry = GLUE_JOB_DIR / ENTRY_SCRIPT
    if not entry.is_file():
        raise UserError(f"{entry} not found: the Glue job's entry script is part of every deployment")
    _write_file(artifacts.glue_script, entry.read_bytes())
    build_extra_py_files_zip(artifacts.glue_libs)
    build_lambda_bundle(artifacts.lambda_bundle, fetch_wheels(BUNDLE_REQUIREMENTS))
    build_layer(artifacts.lambda_layer, fetch_wheels(LAYER_REQUIREMENTS))
    if reference_csv is not None:
        if not reference_csv.is_file():
            raise UserError(f"reference table {reference_csv} does not exist")
        _write_file(artifacts.reference, reference_csv.read_bytes())
    return artifacts


def _write_file(dest: Path, data: bytes) -> None:
    if dest.is_file() and dest.read_bytes() == data:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(dest)
    temporary.write_bytes(data)
    os.replace(temporary, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m covid_pipeline.artifacts", description=__doc__.split("\n")[0])
    parser.add_argument("build_dir", nargs="?", type=Path, default=DEFAULT_BUILD_DIR)
    parser.add_argument(
        "--fetch-only", action="store_true", help="only download the bundle's and the layer's wheels (make setup)"
    )
    args = parser.parse_args(argv)
    try:
        if args.fetch_only:
            for requirements_file in (BUNDLE_REQUIREMENTS, LAYER_REQUIREMENTS):
                for wheel in fetch_wheels(requirements_file):
                    print(wheel)
            return 0
        reference = os.environ.get("COVID_REFERENCE_CSV")
        artifacts = build(args.build_dir, Path(reference) if reference else None)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(artifacts.build_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
