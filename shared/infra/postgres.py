"""A real throwaway PostgreSQL cluster (initdb + pg_ctl), no Docker engine needed."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import psutil
from sqlalchemy.engine import make_url

from shared.infra._process import InfraError, pid_alive, tail
from shared.infra.ports import free_port

HOST = "127.0.0.1"
DATABASE = "tiendo"
OS_USER = "postgres"
_TOOLS = ("initdb", "pg_ctl", "postgres", "pg_isready", "createdb")


def _usable(bin_dir: Path) -> bool:
    return all((bin_dir / tool).exists() for tool in _TOOLS)


def _find_bin_dir() -> Path | None:
    # Debian puts only wrappers on PATH (if anything): resolve symlinks to the real dir.
    on_path = shutil.which("pg_ctl")
    if on_path and _usable(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    version = lambda d: [int(x) for x in re.findall(r"\d+", d)]  # noqa: E731
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if _usable(Path(d)):
            return Path(d)
    return None


def find_pg_bin() -> Path:
    """The PostgreSQL server binaries; installs Debian's package when root and missing."""
    found = _find_bin_dir()
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing PostgreSQL with apt-get (once)...", file=sys.stderr, flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
            result = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise InfraError(f"`{' '.join(cmd)}` failed:\n{result.stderr[-3000:]}")
        found = _find_bin_dir()
        if found:
            return found
    raise InfraError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install them, "
        "e.g. `apt-get install postgresql` (Debian/Ubuntu)"
    )


def _is_root() -> bool:
    return os.geteuid() == 0


def _ensure_os_user() -> None:
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                OS_USER,
            ],
            check=True,
        )


class PostgresServer:
    """One cluster whose data, socket and log live in `workdir`.

    PostgreSQL refuses to run as root, so as root every server command runs as the
    `postgres` OS user. If that user cannot reach `workdir` (e.g. pytest's 0700
    /tmp/pytest-of-root), the cluster lives in a /tmp dir linked as `workdir/cluster`.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.base = self.workdir
        self.port: int | None = None
        self._bin: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def log_path(self) -> Path:
        return self.base / "postgres.log"

    @property
    def url(self) -> str:
        if self.port is None:
            raise InfraError("PostgreSQL was never started")
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/{DATABASE}"

    def _pidfile(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (from postmaster.pid), None when not running."""
        lines = self._pidfile()
        pid = int(lines[0]) if lines and lines[0].isdigit() else None
        try:  # a stale pid file's pid may since belong to another program
            return pid if pid_alive(pid) and psutil.Process(pid).name() == "postgres" else None
        except psutil.NoSuchProcess:
            return None

    def is_running(self) -> bool:
        return self.pid is not None

    def _run(
        self, *cmd: str, as_server: bool = True, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        argv = [str(self._bin / cmd[0]), *cmd[1:]]
        if as_server and _is_root():
            argv = ["runuser", "-u", OS_USER, "--", *argv]
        # cwd: the postgres user may not be allowed into the caller's cwd (e.g. /root).
        result = subprocess.run(argv, cwd=self.base, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise InfraError(
                f"`{' '.join(argv)}` failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n{tail(self.log_path)}"
            )
        return result

    def _prepare_dirs(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not _is_root():
            return
        _ensure_os_user()
        shutil.chown(self.workdir, OS_USER, OS_USER)
        probe = ["runuser", "-u", OS_USER, "--", "test", "-w", str(self.workdir)]
        if subprocess.run(probe, cwd="/").returncode != 0:
            _sweep_orphans()
            digest = hashlib.sha1(str(self.workdir).encode()).hexdigest()[:12]
            self.base = Path(tempfile.gettempdir()) / f"{_RELOCATED}{digest}"
            self.base.mkdir(exist_ok=True)
            (self.base / _OWNER).write_text(str(self.workdir))
            shutil.chown(self.base, OS_USER, OS_USER)
            link = self.workdir / "cluster"
            if not link.is_symlink():
                link.symlink_to(self.base)

    def start(self, timeout: float = 60) -> str:
        """Start (initdb on first use) and return the SQLAlchemy asyncpg URL."""
        if self._bin is None:
            self._bin = find_pg_bin()
            self._prepare_dirs()
        if self.is_running():  # maybe started by another process: adopt its port
            self.port = int(self._pidfile()[3])
            return self.url
        if self.port is None:  # restarts keep the port so clients reconnect
            self.port = free_port(HOST)
        if not (self.data_dir / "PG_VERSION").exists():
            shutil.rmtree(self.data_dir, ignore_errors=True)  # a half-done initdb
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        sock = self.base / "sock"
        sock.mkdir(exist_ok=True)
        if _is_root():
            shutil.chown(sock, OS_USER, OS_USER)
        # Unix socket paths are limited to 107 bytes; we only need TCP anyway.
        sock_opt = str(sock) if len(str(sock)) < 90 else ""
        opts = (
            f"-p {self.port} -c listen_addresses={HOST} -c unix_socket_directories='{sock_opt}'"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            str(int(timeout)),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            opts,
            timeout=timeout + 10,
        )
        self._await_ready(timeout)
        created = self._run(
            "createdb",
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            DATABASE,
            as_server=False,
            check=False,
        )
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise InfraError(f"createdb {DATABASE} failed: {created.stderr}")
        return self.url

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            ready = self._run(
                "pg_isready",
                "-q",
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                as_server=False,
                check=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise InfraError(f"PostgreSQL not ready on {HOST}:{self.port}\n{tail(self.log_path)}")
            time.sleep(0.1)

    def _wait_gone(self, pids: list[int], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while any(pid_alive(p) for p in pids):
            if time.monotonic() > deadline:
                raise InfraError(f"PostgreSQL processes {pids} still alive after {timeout:.0f}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions, closes connections)."""
        pid = self.pid
        if pid is None:
            return
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")
        self._wait_gone([pid])

    def kill(self) -> None:
        """Crash the cluster (SIGKILL postmaster and backends), for fault tests."""
        pid = self.pid
        if pid is None:
            return
        try:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        for proc in procs:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        self._wait_gone([p.pid for p in procs])
        # Our container's PID 1 may never reap the dead postmaster: its zombie keeps the
        # pid "alive", so PostgreSQL would refuse to start over the stale lock files.
        for lock in [self.data_dir / "postmaster.pid", *(self.base / "sock").glob(".s.PGSQL.*")]:
            lock.unlink(missing_ok=True)

    def restart(self, timeout: float = 60) -> str:
        """Stop if running, start again on the same port with the same data."""
        self.stop()
        return self.start(timeout)

    def remove(self) -> None:
        """Stop and delete the cluster's files, including a relocated /tmp directory, which
        nothing else would ever remove."""
        self.stop()
        if self.base != self.workdir:
            shutil.rmtree(self.base, ignore_errors=True)
            (self.workdir / "cluster").unlink(missing_ok=True)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """A cluster used as a context manager is a throwaway one."""
        self.remove()


_RELOCATED = "tiendo-pg-"
_OWNER = "workdir"  # in a relocated directory: the workdir it serves


def _sweep_orphans() -> None:
    """Remove relocated clusters whose workdir is gone and whose postmaster is not running
    (left by a run that was killed before it could remove its own)."""
    for base in Path(tempfile.gettempdir()).glob(f"{_RELOCATED}*"):
        try:
            owner = Path((base / _OWNER).read_text())
        except OSError:
            continue  # not ours, or from before owners were recorded: leave it
        if owner.exists() or (base / "data" / "postmaster.pid").exists():
            continue
        shutil.rmtree(base, ignore_errors=True)


def postgres_from_env_or_start(workdir: Path) -> tuple[str, PostgresServer | None]:
    """`DATABASE_URL` if set (server None), else a cluster started in `workdir`."""
    external = os.environ.get("DATABASE_URL")
    if external:
        return external, None
    server = PostgresServer(workdir)
    try:
        return server.start(), server
    except BaseException:
        server.kill()  # never leave a half-started server behind
        raise


async def create_database(server_url: str, prefix: str = "t") -> str:
    """A new empty database on the same cluster; returns its URL. Cheap: tests use one each."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, database_url: str) -> None:
    """Drop a database made by `create_database`, closing its remaining connections."""
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)')


async def _admin(server_url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run in a transaction: a plain asyncpg connection, autocommit.
    url = make_url(server_url)
    conn = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host, port=url.port, database=url.database
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
