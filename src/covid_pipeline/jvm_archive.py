"""A class-data-sharing archive of the job's JVM classes, built by `make setup`, used by every local Spark JVM.

A fresh Spark JVM loads, parses and verifies a few thousand classes from
pyspark's jars before it runs a task, on the same two cores as the tasks. The
JDK can dump the classes an application loaded into an archive
(-XX:ArchiveClassesAtExit) that later JVMs map, already parsed and verified
(-XX:SharedArchiveFile). `jvm_archive_build` builds one by running the job on
the sample data with the dump switched on, then checks that a Spark JVM starts
on it with sharing required (-Xshare:on). This module names it and gives the
options that use it.

The archive is named by what it depends on (pyspark's jars, the JDK, the JVM
options), so an archive built for another set of them is simply not found.
Missing, stale or unreadable, it is left out or ignored: Spark starts as it
would without it, and the JVM prints nothing about it (its CDS warnings go to
stdout unless switched off).

    python -m covid_pipeline.jvm_archive_build     # build (and check) if missing
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from functools import lru_cache
from pathlib import Path

from covid_pipeline.config import REPO_ROOT

ARCHIVE_DIR = Path(os.environ.get("COVID_PIPELINE_JVM_ARCHIVE_DIR", REPO_ROOT / ".cache" / "jvm"))
FORMAT = "1"  # bump when the workload changes enough to matter
QUIET = "-Xlog:cds=off,cds+dynamic=off"  # a stale or unreadable archive is ignored without a word on stdout


def _spark_jars() -> Path:
    spec = importlib.util.find_spec("pyspark")  # found, not imported: the CLI asks for settings too
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyspark is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "jars"


def _java_home() -> Path | None:
    """The JDK Spark's launcher starts: JAVA_HOME's, else the java on PATH."""
    home = os.environ.get("JAVA_HOME")
    java = Path(home) / "bin" / "java" if home else None
    found = str(java) if java and java.exists() else shutil.which("java")
    return Path(os.path.realpath(found)).parent.parent if found else None


@lru_cache(maxsize=8)
def _key(jvm_options: str, jars: Path, java_home: Path | None) -> str:
    digest = hashlib.sha256(f"{FORMAT}\n{jvm_options}\n".encode())
    libjvm = java_home / "lib" / "server" / "libjvm.so" if java_home else None
    for path in sorted(jars.glob("*.jar")) + ([libjvm] if libjvm and libjvm.exists() else []):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def archive_path(jvm_options: str) -> Path:
    """Where the archive for these JVM options, this pyspark and this JDK is (or would be)."""
    return ARCHIVE_DIR / f"spark-{_key(jvm_options, _spark_jars(), _java_home())}.jsa"


def path_option(name: str, path: Path) -> str:
    """-XX:<name>=<path>, quoted for Spark's option parser when the path has a space."""
    return f'-XX:{name}="{path}"' if " " in str(path) else f"-XX:{name}={path}"


def _use(path: Path) -> str:
    return f"{path_option('SharedArchiveFile', path)} {QUIET}"


def archive_options(jvm_options: str) -> str:
    """The options that make a JVM started with `jvm_options` map the archive: none when there is none."""
    path = archive_path(jvm_options)
    return _use(path) if path.is_file() else ""
