"""The unit tier's guard: `make test-unit` runs tests/unit in under a minute because no test here starts Spark, a
JVM, a server (moto or any other), PostgreSQL or Terraform. A test that does fails with a message that says where
it belongs: tests/component/ (one real engine: Spark, a moto server, PostgreSQL, a child process that starts one)
or tests/integration/ (the local cloud).

The guard wraps each phase of a unit test (setup, call, teardown) rather than being a fixture, so it also covers
the session- and module-scoped fixtures a unit test would set up (the shared ``spark`` among them). Conftest hooks
apply only to the items of their folder: the other tiers run unguarded in the same session."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

# Programs whose start is the slow part a unit test must not pay for.
REFUSED_PROGRAMS = {
    "java": "a JVM",
    "keytool": "a JVM (keytool)",
    "spark-submit": "Spark",
    "spark-class": "Spark",
    "initdb": "PostgreSQL",
    "pg_ctl": "PostgreSQL",
    "postgres": "PostgreSQL",
    "moto_server": "a moto server",
}
# Terraform's own commands that talk to a provider; `terraform version` (a CLI probe) is cheap and allowed.
REFUSED_TERRAFORM_COMMANDS = {"init", "plan", "apply", "destroy", "validate", "refresh", "import", "show"}
# Session fixtures that wait for Terraform (plans, the provisioned cloud) or start Spark.
REFUSED_FIXTURES = {
    "spark": "Spark",
    "planned_dir": "Terraform (the plans of every environment)",
    "planned_stacks": "Terraform (the plans of every environment)",
    "planned_test_config": "Terraform (the plans of every environment)",
    "provisioned_test_cloud": "Terraform (the provisioned test cloud)",
}


def refusal(what: str) -> str:
    return (
        f"this unit test starts {what}; unit tests start no Spark, JVM, server, PostgreSQL or Terraform: "
        "move it to tests/component/ or tests/integration/ (tests/unit/conftest.py)"
    )


def refused_program(args: Any, shell: bool) -> str | None:
    """What starting ``args`` would start that the unit tier refuses, or None."""
    if isinstance(args, (str, bytes, os.PathLike)):
        argv = os.fsdecode(args).split() if shell else [os.fsdecode(args)]
    else:
        argv = [os.fsdecode(arg) for arg in args]
    program = os.path.basename(argv[0])
    if program == "terraform" and REFUSED_TERRAFORM_COMMANDS & set(argv[1:]):
        return "Terraform"
    if program in REFUSED_PROGRAMS:
        return REFUSED_PROGRAMS[program]
    # A program started through another (`runuser -u nobody -- /usr/lib/postgresql/15/bin/initdb`) is caught by its
    # path; a bare word there is an argument (`-U postgres`).
    for arg in argv[1:]:
        if os.sep in arg and os.path.basename(arg) in REFUSED_PROGRAMS:
            return REFUSED_PROGRAMS[os.path.basename(arg)]
    return None


def refusing_java_home(root: Path) -> Path:
    """A JAVA_HOME whose java and keytool refuse to run: a Python child a unit test starts (a job script, a CLI)
    finds Java there (Spark's launcher and our keytool lookup both try JAVA_HOME first) and fails saying why."""
    home = root / "unit-tier-java-home"
    if not home.is_dir():
        (home / "bin").mkdir(parents=True)
        for name in ("java", "keytool"):
            program = home / "bin" / name
            message = refusal(f"a JVM ({name} in a child process)")
            program.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 97\n")
            program.chmod(0o755)
    return home


@contextmanager
def unit_tier_guard(java_home: Path | None) -> Iterator[None]:
    refused_in_threads: list[str] = []

    def refuse(what: str) -> NoReturn:
        if threading.current_thread() is threading.main_thread():
            pytest.fail(refusal(what), pytrace=False)
        # A server thread's failure would not reach the test: it is reported when the phase ends.
        refused_in_threads.append(what)
        raise OSError(refusal(what))

    original_popen_init = subprocess.Popen.__init__
    original_listen = socket.socket.listen

    def guarded_popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        what = refused_program(args, bool(kwargs.get("shell")))
        if what:
            refuse(what)
        original_popen_init(self, args, *rest, **kwargs)

    def guarded_listen(self: socket.socket, *args: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse("a server (a listening TCP socket)")
        original_listen(self, *args)

    def guarded_moto_start(self: ThreadedMotoServer) -> None:
        refuse("a moto server")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", guarded_popen_init)
        patch.setattr(socket.socket, "listen", guarded_listen)
        patch.setattr(ThreadedMotoServer, "start", guarded_moto_start)
        if java_home is not None:
            patch.setenv("JAVA_HOME", str(java_home))
        yield
    if refused_in_threads:
        pytest.fail(refusal(refused_in_threads[0]), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    for name in REFUSED_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
        pytest.fail(refusal(REFUSED_FIXTURES[name]) + f" (it uses the fixture {name!r})", pytrace=False)
    # No JAVA_HOME swap here: the session's background jobs (tests/conftest.py) start during the first test's setup
    # and must inherit the real one.
    with unit_tier_guard(java_home=None):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    root = item.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    with unit_tier_guard(java_home=refusing_java_home(root)):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    with unit_tier_guard(java_home=None):
        return (yield)
