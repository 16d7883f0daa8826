"""A throwaway PostgreSQL cluster for tests and benchmarks, started from the machine's server binaries.

initdb refuses to run as root, so under root the cluster belongs to the unprivileged `nobody` user (its data and
socket directories are created for that user). The server listens on a free 127.0.0.1 port only and is stopped by
the PID this module started.

    from tests.pg import postgres_url  # noqa: F401  (imports the session fixture into a test module)
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CLUSTER_USER = "nobody"  # owns the cluster when we run as root
FALLBACK_CLUSTER_USER = "covid-pg"  # created (system user, no home) where `nobody` does not exist
DATABASE_USER = "postgres"


def find_postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl (Debian's layout), or PG_BIN."""
    candidates = [os.environ["PG_BIN"]] if os.environ.get("PG_BIN") else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name.split(".")[0]), reverse=True
    )
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster_account() -> pwd.struct_passwd:
    """The unprivileged account a root-run test suite starts PostgreSQL as."""
    for name in (CLUSTER_USER, FALLBACK_CLUSTER_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_CLUSTER_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(FALLBACK_CLUSTER_USER)


class ThrowawayPostgres:
    """initdb + pg_ctl start in a temporary directory; stop() removes everything."""

    def __init__(self, bin_dir: Path, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.durable = durable
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="covid-pg-"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_file = self.root / "server.log"
        self.pid: int | None = None
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            account = cluster_account()
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", account.pw_name, "--"]
            self.socket_dir.mkdir()
            os.chown(self.socket_dir, account.pw_uid, account.pw_gid)
        else:
            self.socket_dir.mkdir()

    @property
    def url(self) -> str:
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        completed = subprocess.run([*self._as_user, *args], capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed: {completed.stderr.strip() or completed.stdout.strip()}")

    def start(self) -> ThrowawayPostgres:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            DATABASE_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.socket_dir}"]
        if not self.durable:
            # A throwaway test cluster: durability costs time and buys nothing.
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        return self

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGINT)  # "fast" shutdown of the postmaster we started
                for _ in range(100):
                    os.kill(self.pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL server for this test session (skips where no server binaries exist)."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and $PG_BIN)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
    server = ThrowawayPostgres(bin_dir).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A new, empty database per test on the session's server (tests stay independent)."""
    import uuid

    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]  # generated identifier
    base = postgres_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Either target the loader writes with rows: a fresh DuckDB file, or a fresh database of this server."""
    if request.param == "duckdb":
        return f"duckdb://{tmp_path / 'covid.duckdb'}"
    return str(request.getfixturevalue("postgres_database"))
