"""A real throwaway PostgreSQL cluster (initdb + pg_ctl), no Docker engine needed.

Least privilege, as in production: every connection authenticates with a password
(`scram-sha-256` for local and TCP connections alike, in a pg_hba.conf written at every start).
The superuser `postgres` only provisions; each service (`intake`, `aggregator`, `notifier`) has a
login role of its name that is no superuser, cannot create roles or databases, and owns the
schema of its name in each database (`provision_database`), so it runs its own migrations and
reaches nothing else. Passwords are generated once per cluster and kept in files of mode 600 in
`workdir/secrets/` (`password_file(role)`); none is written in code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from sqlalchemy.engine import make_url

from shared.infra._process import InfraError, pid_alive, tail
from shared.infra.faults import Link, NetworkNamespace
from shared.infra.ports import free_port

HOST = "127.0.0.1"
DATABASE = "tiendo"
OS_USER = "postgres"
ADMIN = "postgres"  # the superuser: provisioning only
SERVICE_ROLES = ("intake", "aggregator", "notifier")  # each owns the schema of its name
_HBA = (
    "# Written by shared/infra/postgres.py at every start: passwords for everyone, everywhere.\n"
    "local all all scram-sha-256\n"
    f"host all all {HOST}/32 scram-sha-256\n"
    "host all all ::1/128 scram-sha-256\n"
)
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

    def __init__(
        self,
        workdir: Path,
        *,
        tls: bool = False,
        namespace: NetworkNamespace | None = None,
        links: Sequence[Link] = (),
    ) -> None:
        """`tls`: the server also takes TLS, with a certificate for 127.0.0.1 signed by a CA of
        its own (`ca_file`), as clients verify it with DATABASE_SSLMODE=verify-full.
        `namespace`, `links` (fault tests): the server runs inside that network namespace and
        listens on every link's inner address; `url` is the first link's."""
        self.workdir = Path(workdir).resolve()
        self.namespace = namespace
        self._links = list(links)
        self.addresses = [link.address for link in links] or [HOST]
        self.host = self.addresses[0]
        self.base = self.workdir
        self.port: int | None = None
        self.tls = tls
        self._bin: Path | None = None

    @property
    def ca_file(self) -> Path:
        return self.base / "tls" / "ca.crt"

    def _make_certificates(self) -> tuple[Path, Path]:
        tls = self.base / "tls"
        cert, key = tls / "server.crt", tls / "server.key"
        if cert.exists() and key.exists():
            return cert, key
        tls.mkdir(exist_ok=True)

        def openssl(*args: str) -> None:
            result = subprocess.run(["openssl", *args], cwd=tls, capture_output=True, text=True)
            if result.returncode != 0:
                raise InfraError(f"openssl {args[0]} failed: {result.stderr[-2000:]}")

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=Tiendo test CA",
                "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={HOST}", "-keyout", "server.key",
                "-out", "server.csr")  # fmt: skip
        (tls / "san.ext").write_text(f"subjectAltName=IP:{HOST}\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "30", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
        (tls / "ca.key").unlink()  # nothing more is signed
        key.chmod(0o600)  # PostgreSQL refuses a key others may read
        if _is_root():
            for path in (tls, cert, key):
                shutil.chown(path, OS_USER, OS_USER)
        return cert, key

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def log_path(self) -> Path:
        return self.base / "postgres.log"

    @property
    def secrets_dir(self) -> Path:
        return self.workdir / "secrets"

    def password_file(self, role: str) -> Path:
        """The file holding `role`'s password (mode 600), made on first use."""
        path = self.secrets_dir / role
        if not path.exists():
            self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24))
        return path

    def password(self, role: str) -> str:
        return self.password_file(role).read_text().strip()

    def role_url(self, role: str, database: str = DATABASE) -> str:
        if self.port is None:
            raise InfraError("PostgreSQL was never started")
        return f"postgresql+asyncpg://{role}:{self.password(role)}@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The superuser's URL (password included): for provisioning and tests' own checks."""
        return self.role_url(ADMIN)

    def service_url(self, service: str, database: str = DATABASE) -> str:
        """The URL service `service` connects with: its own role, its password."""
        if service not in SERVICE_ROLES:
            raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICE_ROLES)}")
        return self.role_url(service, database)

    @property
    def service_passwords(self) -> dict[str, str]:
        return {role: self.password(role) for role in SERVICE_ROLES}

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
        self,
        *cmd: str,
        as_server: bool = True,
        check: bool = True,
        timeout: float = 120,
        namespace: NetworkNamespace | None = None,
    ) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        argv = [str(self._bin / cmd[0]), *cmd[1:]]
        if as_server and _is_root():
            argv = ["runuser", "-u", OS_USER, "--", *argv]
        if namespace is not None:
            argv = [*namespace.exec_prefix, *argv]
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
        legacy = False  # a cluster made before passwords (trust): secured below, once
        if not (self.data_dir / "PG_VERSION").exists():
            shutil.rmtree(self.data_dir, ignore_errors=True)  # a half-done initdb
            # initdb reads the superuser's password from a file the server's OS user can read.
            pwfile = self.base / f".initdb-pw-{uuid.uuid4().hex[:8]}"
            pwfile.write_text(self.password(ADMIN))
            try:
                if _is_root():
                    shutil.chown(pwfile, OS_USER, OS_USER)
                self._run(
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    f"--username={ADMIN}",
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                )
            finally:
                pwfile.unlink(missing_ok=True)
        else:
            legacy = "trust" in _hba_methods(self.data_dir / "pg_hba.conf")
        if not legacy:
            self._write_hba()
        sock = self.base / "sock"
        sock.mkdir(exist_ok=True)
        if _is_root():
            shutil.chown(sock, OS_USER, OS_USER)
        # Unix socket paths are limited to 107 bytes; we only need TCP anyway.
        sock_opt = str(sock) if len(str(sock)) < 90 else ""
        opts = (
            f"-p {self.port} -c listen_addresses='{','.join(self.addresses)}'"
            f" -c unix_socket_directories='{sock_opt}'"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        if self.tls:
            cert, key = self._make_certificates()
            opts += f" -c ssl=on -c ssl_cert_file='{cert}' -c ssl_key_file='{key}'"
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
            namespace=self.namespace,
        )
        self._await_ready(timeout)
        if legacy:  # still trust: give the superuser its password, then require passwords
            no_password = f"postgresql+asyncpg://{ADMIN}@{self.host}:{self.port}/postgres"
            _run_async(_admin(no_password, _set_password(ADMIN, self.password(ADMIN))))
            self._write_hba()
            self._run("pg_ctl", "reload", "-D", str(self.data_dir))
        _run_async(_ensure_database(self.role_url(ADMIN, "postgres"), DATABASE))
        _run_async(provision_roles(self.url, self.service_passwords))
        remember_passwords(self.url, self.service_passwords)
        _run_async(provision_database(self.url))
        return self.url

    def _write_hba(self) -> None:
        hba = self.data_dir / "pg_hba.conf"
        text = _HBA + "".join(f"host all all {link.host_address}/32 scram-sha-256\n" for link in self._links)
        if hba.exists() and hba.read_text() == text:
            return
        hba.write_text(text)
        if _is_root():
            shutil.chown(hba, OS_USER, OS_USER)

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            ready = self._run(
                "pg_isready",  # needs no password: it only asks whether connections are taken
                "-q",
                "-h",
                self.host,
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
                raise InfraError(f"PostgreSQL not ready on {self.host}:{self.port}\n{tail(self.log_path)}")
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


def _hba_methods(hba: Path) -> set[str]:
    try:
        lines = hba.read_text().splitlines()
    except OSError:
        return set()
    return {line.split()[-1] for line in lines if line.strip() and not line.lstrip().startswith("#")}


def _tls(url: Any) -> Any:
    """TLS as the services' connections take it (DATABASE_SSLMODE, DATABASE_SSLROOTCERT)."""
    from shared.db import connect_args

    return connect_args(url.render_as_string(hide_password=False)).get("ssl")


def _run_async(coro: Any) -> Any:
    """Run a coroutine to completion from synchronous code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _set_password(role: str, password: str) -> str:
    # Statements take no parameters: a literal, quoted; scram-sha-256 hashes it server side.
    return f"ALTER ROLE {_quote(role)} WITH PASSWORD {_literal(password)}"


async def _connect(url_text: str) -> asyncpg.Connection:
    """A plain asyncpg connection (autocommit) to the database a URL names, with its TLS settings."""
    url = make_url(url_text)
    return await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.database,
        ssl=_tls(url),
    )


async def _ensure_database(admin_url: str, name: str) -> None:
    conn = await _connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f"CREATE DATABASE {_quote(name)}")
    finally:
        await conn.close()


async def provision_roles(admin_url: str, passwords: Mapping[str, str]) -> None:
    """Each service's login role on the cluster (roles are cluster-wide): no superuser, no role or
    database creation, no replication, its password (re)set from `passwords`."""
    statements = []
    for role, password in passwords.items():
        statements.append(
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(role)}) THEN "
            f"CREATE ROLE {_quote(role)} LOGIN; END IF; END $$"
        )
        statements.append(
            f"ALTER ROLE {_quote(role)} WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB "
            "NOREPLICATION NOBYPASSRLS NOINHERIT"
        )
        statements.append(_set_password(role, password))
    for statement in statements:
        await _admin(admin_url, statement)


async def provision_database(admin_url: str, services: Sequence[str] = SERVICE_ROLES) -> None:
    """In the database of `admin_url`: each service's schema, owned by its role (with whatever a
    superuser created in it before: migrations run as the role from now on); the roles may connect
    and use temporary tables; nobody but the owner creates in `public`. Idempotent."""
    database = make_url(admin_url).database
    statements = [
        f"REVOKE ALL ON DATABASE {_quote(database)} FROM PUBLIC",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    ]
    for role in services:
        statements += [
            f"GRANT CONNECT, TEMPORARY ON DATABASE {_quote(database)} TO {_quote(role)}",
            f"CREATE SCHEMA IF NOT EXISTS {_quote(role)} AUTHORIZATION {_quote(role)}",
            f"ALTER SCHEMA {_quote(role)} OWNER TO {_quote(role)}",
            f"REVOKE ALL ON SCHEMA {_quote(role)} FROM PUBLIC",
            # Tables, sequences and views a superuser made here (a database migrated before roles).
            "DO $$ DECLARE r record; BEGIN FOR r IN SELECT c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {_literal(role)} AND c.relkind IN ('r', 'p', 'S', 'v', 'm') "
            f"AND c.relowner <> {_literal(role)}::regrole LOOP "
            f"EXECUTE format('ALTER TABLE %I.%I OWNER TO %I', {_literal(role)}, r.relname, {_literal(role)}); "
            "END LOOP; END $$",
        ]
    for statement in statements:
        await _admin(admin_url, statement)


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
    """A new empty database on the same cluster, each service's schema provisioned in it (when
    the service roles exist); returns its (superuser's) URL. Cheap: tests use one each."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await provision_database(url, await _existing_roles(server_url, SERVICE_ROLES))
    return url


async def _existing_roles(server_url: str, roles: Sequence[str]) -> list[str]:
    conn = await _connect(server_url)
    try:
        found = {
            r["rolname"]
            for r in await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", list(roles))
        }
    finally:
        await conn.close()
    return [r for r in roles if r in found]


def with_role(database_url: str, role: str, password: str) -> str:
    """The same database as `database_url`, as `role`."""
    return make_url(database_url).set(username=role, password=password).render_as_string(hide_password=False)


# The service roles' passwords of the clusters this process started or provisioned, by address.
_KNOWN_PASSWORDS: dict[tuple[str | None, int | None], dict[str, str]] = {}


def remember_passwords(database_url: str, passwords: Mapping[str, str]) -> None:
    url = make_url(database_url)
    _KNOWN_PASSWORDS[(url.host, url.port)] = dict(passwords)


def service_database_url(database_url: str, service: str) -> str:
    """`database_url`'s database as service `service`'s own role, on a cluster this process
    started (`PostgresServer`) or provisioned (`remember_passwords`)."""
    url = make_url(database_url)
    try:
        password = _KNOWN_PASSWORDS[(url.host, url.port)][service]
    except KeyError:
        raise InfraError(f"no password known for role {service!r} on {url.host}:{url.port}") from None
    return with_role(database_url, service, password)


async def drop_database(server_url: str, database_url: str) -> None:
    """Drop a database made by `create_database`, closing its remaining connections."""
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)')


async def _admin(server_url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run in a transaction: a plain asyncpg connection, autocommit.
    conn = await _connect(server_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
