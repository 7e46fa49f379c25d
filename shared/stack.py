"""The local stack: real Kafka, PostgreSQL and SMTP plus the three services, each its own process.

`up` leaves everything running in the background and records it in `.tiendo/stack.json`, so
`status` and `down` (possibly from another shell) find every process; logs go to `.tiendo/logs/`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.auth.tokens import generate_signing_key
from shared.db import SERVICES, upgrade
from shared.infra import KafkaCluster, PostgresServer, provision_database, service_database_url
from shared.infra._process import REPO_ROOT, InfraError, pid_alive
from shared.infra.ports import free_port, port_is_open, wait_for_port
from shared.kafka import KafkaCredentials, ensure_topics, kafka_credentials, topic_specs
from shared.kafka_access import TopicNames, grant_services, service_groups

SERVICE_PORTS = {"intake": 8081, "aggregator": 8082, "notifier": 8083}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StackPaths:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "stack.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def mailbox(self) -> Path:
        return self.root / "mailbox"


def _port(preferred: int, stable: bool) -> int:
    """The well-known port when asked for and free (stable URLs for people), else any free one.

    Tests ask for any free port: two stacks starting at once could both see 8081 free.
    """
    return preferred if stable and not port_is_open("127.0.0.1", preferred) else free_port()


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        # A session of its own: Ctrl-C in the terminal reaches the demo, which stops these cleanly.
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=REPO_ROOT,
            start_new_session=True,
        )


def up(
    paths: StackPaths,
    progress: Progress,
    *,
    now: str | None = None,
    clock_speed: float = 1.0,
    extra_env: dict[str, str] | None = None,
    kafka_bootstrap: str | None = None,
    database_url: str | None = None,
    fresh: bool = False,
    stable_ports: bool = True,
    brokers: int = 1,
) -> dict:
    """Start everything; returns what stack.json records.

    `brokers` Kafka nodes are started (1, or a 3-node cluster whose topics are replicated 3
    times with `min.insync.replicas=2`); each node is a component of its own (`kafka-1`...).

    A given `kafka_bootstrap` / `database_url` is used instead of starting that server (and is
    not stopped by `down`); `extra_env` reaches every service (topic names, intervals, ...).
    Data (Kafka log, PostgreSQL cluster, mailbox) survives `down`/`up` unless `fresh`.
    A running stack or a clock pin the services would refuse is refused (`StackRefused`) before
    anything starts; if a start fails, what it started is stopped again.
    """
    if paths.state.exists() and any(pid_alive(c.get("pid")) for c in _components(paths)):
        raise StackRefused(f"a stack is already running (see {paths.state}); run `tiendo stack down` first")
    _check_clock(now, clock_speed)  # before starting anything: every service would refuse a bad pin
    try:
        return _start(
            paths,
            progress,
            now=now,
            clock_speed=clock_speed,
            extra_env=extra_env,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            fresh=fresh,
            stable_ports=stable_ports,
            brokers=brokers,
        )
    except BaseException:
        if paths.state.exists():  # leave nothing running behind a failed start
            progress("start-up failed: stopping what was started ...")
            down(paths, progress, grace=10)
        raise


class StackRefused(RuntimeError):
    """`up` was asked for something it cannot do (a stack already runs, a clock pin the services refuse)."""


def _check_clock(now: str | None, clock_speed: float) -> None:
    """The services' own reading of TIENDO_NOW and TIENDO_CLOCK_SPEED (shared.settings)."""
    from pydantic import ValidationError

    from shared.settings import TiendoSettings

    try:
        TiendoSettings(
            DATABASE_URL="-",
            KAFKA_BOOTSTRAP_SERVERS="-",
            TIENDO_NOW=now or "",
            TIENDO_CLOCK_SPEED=clock_speed,
        ).clock()
    except ValidationError as exc:
        raise StackRefused(
            f"--now {now!r} / --clock-speed {clock_speed}: {exc.errors()[0]['msg']}; "
            "e.g. --now 2024-06-20T08:00:00+07:00"
        ) from None
    except ValueError as exc:
        raise StackRefused(f"--now {now!r}: {exc}") from None


def _start(
    paths: StackPaths,
    progress: Progress,
    *,
    now: str | None,
    clock_speed: float,
    extra_env: dict[str, str] | None,
    kafka_bootstrap: str | None,
    database_url: str | None,
    fresh: bool,
    stable_ports: bool,
    brokers: int,
) -> dict:
    if fresh:
        for stale in (*paths.root.glob("kafka*"), paths.root / "postgres", paths.mailbox, paths.logs):
            shutil.rmtree(stale, ignore_errors=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.mailbox.mkdir(parents=True, exist_ok=True)
    state: dict = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "now": now,
        "clock_speed": clock_speed,
        "mailbox": str(paths.mailbox),
        "logs": str(paths.logs),
        "components": {},
    }
    components = state["components"]

    def record() -> None:
        paths.state.write_text(json.dumps(state, indent=2, ensure_ascii=False))
        paths.state.chmod(0o600)  # it holds the superuser's URL, for the CLI

    # The admin principal of the broker started here, else the environment's (an external broker).
    kafka_admin: KafkaCredentials | None = kafka_credentials()
    if kafka_bootstrap is None:
        progress(
            "starting Kafka (KRaft, official jars) ..."
            if brokers == 1
            else f"starting a {brokers}-node Kafka cluster (KRaft, official jars) ..."
        )
        # A cluster's data is its own: one broker's log cannot become a node of three.
        kafka = KafkaCluster(paths.root / ("kafka" if brokers == 1 else f"kafka-{brokers}-nodes"), brokers)
        kafka_bootstrap = kafka.start()
        kafka_admin = kafka.admin
        state["kafka_admin_secret"] = str(kafka.workdir / "admin.secret")
        for node in kafka.nodes:
            components["kafka" if brokers == 1 else f"kafka-{node.node_id}"] = {
                "pid": node.pid,
                "bootstrap": node.bootstrap,
                "log": str(node.log_path),
                "signal": "TERM",
            }
        record()
    postgres: PostgresServer | None = None
    if database_url is None:
        progress("starting PostgreSQL ...")
        postgres = PostgresServer(paths.root / "postgres")
        database_url = postgres.start()
        components["postgres"] = {
            "pid": postgres.pid,
            "url": _without_password(database_url),
            "log": str(postgres.log_path),
            "signal": "INT",
        }
        record()
    state["kafka_bootstrap"], state["database_url"] = kafka_bootstrap, database_url
    env = {**(extra_env or {})}
    progress("creating topics and applying migrations ...")
    asyncio.run(ensure_topics(kafka_bootstrap, topic_specs(env), credentials=kafka_admin))
    service_kafka = _grant_kafka(paths, kafka_bootstrap, kafka_admin, env)
    service_db = _migrate_as_roles(database_url, postgres, progress)

    smtp_port = _port(2525, stable_ports)
    smtp = _spawn(
        [
            sys.executable,
            "-m",
            "shared.infra.smtp",
            "--port",
            str(smtp_port),
            "--mailbox",
            str(paths.mailbox),
        ],
        paths.logs / "smtp.log",
        {},
    )
    components["smtp"] = {
        "pid": smtp.pid,
        "host": "127.0.0.1",
        "port": smtp_port,
        "mailbox": str(paths.mailbox),
        "log": str(paths.logs / "smtp.log"),
        "signal": "TERM",
    }
    record()
    wait_for_port("127.0.0.1", smtp_port, timeout=20)

    ports = {name: _port(port, stable_ports) for name, port in SERVICE_PORTS.items()}
    auth = _auth_env(paths, f"http://127.0.0.1:{ports['intake']}", ports, env)
    state["auth"] = auth.get("intake", {})
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TIENDO_CLOCK_SPEED": str(clock_speed),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "NOTIFIER_ACK_SECRET": _ack_secret(paths),
        "NOTIFIER_PUBLIC_URL": f"http://127.0.0.1:{ports['notifier']}",
        "NOTIFIER_PAGES_URL": f"http://127.0.0.1:{ports['aggregator']}",
        "INTAKE_FIGURES_URL": f"http://127.0.0.1:{ports['aggregator']}",
        **{f"{name.upper()}_HTTP_PORT": str(port) for name, port in ports.items()},
        **({"TIENDO_NOW": now} if now else {}),
        **env,
    }
    for name, port in ports.items():
        progress(f"starting the {name} service ...")
        # Each service its own Kafka principal and its own PostgreSQL role.
        service_env = {**auth[name], **env, **service_kafka.get(name, {}), **service_db.get(name, {})}
        proc = _spawn([sys.executable, "-m", f"services.{name}"], paths.logs / f"{name}.log", service_env)
        url = f"http://127.0.0.1:{port}"
        components[name] = {
            "pid": proc.pid,
            "url": url,
            "docs": f"{url}/docs",
            "metrics": f"{url}/metrics",
            "log": str(paths.logs / f"{name}.log"),
            "signal": "TERM",
        }
        record()
    for name in ports:
        _await_healthy(name, components[name], progress)
    return state


def _grant_kafka(
    paths: StackPaths, bootstrap: str, admin: KafkaCredentials | None, env: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Each service's Kafka principal with its least privilege on this stack's topics and groups:
    the environment that makes the service use it (password in a file of mode 600). Nothing
    when the broker takes no credentials (an external one without SASL)."""
    if admin is None:
        return {}
    issued = asyncio.run(grant_services(bootstrap, admin, TopicNames.from_env(env), service_groups(env)))
    secrets_dir = paths.root / "kafka-secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    service_env: dict[str, dict[str, str]] = {}
    for name, credentials in issued.items():
        secret = secrets_dir / name
        secret.touch(0o600)
        secret.write_text(credentials.password)
        service_env[name] = {
            "KAFKA_SASL_USERNAME": credentials.username,
            "KAFKA_SASL_PASSWORD": "",
            "KAFKA_SASL_PASSWORD_FILE": str(secret),
            "KAFKA_SECURITY_PROTOCOL": credentials.protocol,
            "TIENDO_KAFKA_ADMIN_PASSWORD": "",  # a test session's, never a service's
        }
    return service_env


def auth_keys(paths: StackPaths) -> tuple[Path, Path]:
    """The stack's signing key and its JWKS (made once, kept across `down`/`up` so sessions survive)."""
    directory = paths.root / "auth"
    private, public = directory / "signing-key.jwk", directory / "jwks.json"
    if not (private.is_file() and public.is_file()):
        generate_signing_key(directory)
    directory.chmod(0o700)
    return private, public


def _auth_env(
    paths: StackPaths, intake_url: str, ports: dict[str, int], extra_env: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Each service's AUTH_* environment: everyone verifies with the stack's JWKS, intake signs
    with its private key and lets the login page send people back to the other services' pages.
    A caller giving AUTH_JWKS_FILE (tests: shared.auth.testing) brings its own keys, and then its
    own AUTH_SIGNING_KEY_FILE for intake if it wants intake to sign."""
    common = {"AUTH_LOGIN_URL": f"{intake_url}/login"}
    if "AUTH_JWKS_FILE" not in extra_env:
        private, public = auth_keys(paths)
        common["AUTH_JWKS_FILE"] = str(public)
    env = {name: dict(common) for name in SERVICE_PORTS}
    if "AUTH_JWKS_FILE" not in extra_env:
        env["intake"]["AUTH_SIGNING_KEY_FILE"] = str(private)
    env["intake"]["INTAKE_LOGIN_NEXT_ORIGINS"] = ",".join(
        f"http://{host}:{port}" for port in ports.values() for host in ("127.0.0.1", "localhost")
    )
    return env


def service_auth_env(paths: StackPaths, name: str) -> dict[str, str]:
    """The AUTH_* environment `up` gave service `name` (to restart it the same way)."""
    if not paths.state.exists():
        return {}
    state = json.loads(paths.state.read_text())
    recorded = dict(state.get("auth", {}))
    if name != "intake":
        recorded = {k: v for k, v in recorded.items() if k in ("AUTH_JWKS_FILE", "AUTH_LOGIN_URL")}
    return recorded


def service_kafka_env(paths: StackPaths, name: str) -> dict[str, str]:
    """The Kafka credentials' environment `up` gave service `name` (to restart it the same way)."""
    secret = paths.root / "kafka-secrets" / name
    if not secret.exists():
        return {}
    return {"KAFKA_SASL_USERNAME": name, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(secret)}


def _without_password(url: str) -> str:
    from sqlalchemy.engine import URL, make_url

    u = make_url(url)  # URL.set(password=None) would keep it: None there means "unchanged"
    return URL.create(
        u.drivername, username=u.username, host=u.host, port=u.port, database=u.database, query=u.query
    ).render_as_string(hide_password=False)


def _migrate_as_roles(
    database_url: str, postgres: PostgresServer | None, progress: Progress
) -> dict[str, dict[str, str]]:
    """Each service's migrations, run by its own role (it owns its schema); returns the database
    environment each service is started with: that role, its password in a file of mode 600 (the
    cluster started here) or in its URL (a cluster this process provisioned). A database whose
    roles are unknown here (an external one) is migrated, and served, with the URL given."""
    if postgres is not None:
        for name in SERVICES:
            upgrade(name, postgres.service_url(name))
        return {
            name: {
                "DATABASE_URL": _without_password(postgres.service_url(name)),
                "DATABASE_PASSWORD_FILE": str(postgres.password_file(name)),
            }
            for name in SERVICES
        }
    try:
        urls = {name: service_database_url(database_url, name) for name in SERVICES}
    except InfraError:
        progress("no service roles known for this database: the services use the given URL")
        for name in SERVICES:
            upgrade(name, database_url)
        return {}
    asyncio.run(provision_database(database_url))
    for name, url in urls.items():
        upgrade(name, url)
    return {name: {"DATABASE_URL": url} for name, url in urls.items()}


def _ack_secret(paths: StackPaths) -> str:
    """A per-installation secret for the leaders' acknowledgement links (never a default)."""
    path = paths.root / "notifier-ack-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _await_healthy(name: str, component: dict, progress: Progress, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(component["pid"]):
            raise RuntimeError(f"the {name} service exited during start-up; see {component['log']}")
        try:
            if httpx.get(component["url"] + "/readyz", timeout=2).status_code == 200:
                progress(f"{name} is ready at {component['url']}")
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the {name} service was not ready after {timeout:.0f}s; see {component['log']}")


def _components(paths: StackPaths) -> list[dict]:
    if not paths.state.exists():
        return []
    return list(json.loads(paths.state.read_text()).get("components", {}).values())


def status(paths: StackPaths) -> list[tuple[str, str, str]]:
    """(component, state, where) rows."""
    if not paths.state.exists():
        return []
    rows = []
    for name, c in json.loads(paths.state.read_text())["components"].items():
        state = "running" if pid_alive(c.get("pid")) else "stopped"
        if state == "running" and c.get("url", "").startswith("http"):
            try:
                ready = httpx.get(c["url"] + "/readyz", timeout=2).status_code == 200
                state = "ready" if ready else "not ready"
            except httpx.HTTPError:
                state = "not answering"
        elif state == "running" and name == "postgres":  # asked as PostgreSQL, not over HTTP
            state = "ready" if _postgres_answers(c.get("url", "")) else "not answering"
        rows.append(
            (name, state, c.get("url") or c.get("bootstrap") or f"{c.get('host', '')}:{c.get('port', '')}")
        )
    return rows


def _postgres_answers(url: str, timeout: float = 2.0) -> bool:
    import asyncpg

    async def ask() -> bool:
        try:
            connection = await asyncpg.connect(
                url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=timeout
            )
        except asyncpg.InvalidAuthorizationSpecificationError:
            return True  # it asked for the password (recorded without one): it answers
        try:
            return await connection.fetchval("SELECT 1", timeout=timeout) == 1
        finally:
            await connection.close()

    try:
        return asyncio.run(ask())
    except Exception:
        return False


def down(paths: StackPaths, progress: Progress, grace: float = 30) -> None:
    """Stop services first (they flush and commit), then SMTP, PostgreSQL and Kafka (every node
    at once: stopped one by one, the last would wait on a quorum already gone)."""
    order = ["intake", "aggregator", "notifier", "smtp", "postgres", "kafka"]
    if not paths.state.exists():
        progress("no stack recorded; nothing to stop")
        return
    components = json.loads(paths.state.read_text())["components"]
    steps: dict[str, list[str]] = {}
    for name in components:
        step = "kafka" if name.startswith("kafka") else name
        steps.setdefault(step, []).append(name)
    for step in sorted(steps, key=lambda n: order.index(n) if n in order else -1):
        running = [n for n in steps[step] if pid_alive(components[n].get("pid"))]
        for name in running:
            progress(f"stopping {name} (pid {components[name]['pid']}) ...")
        _terminate(
            [components[n]["pid"] for n in running],
            [getattr(signal, "SIG" + components[n].get("signal", "TERM")) for n in running],
            grace,
        )
    paths.state.unlink()
    progress("stack stopped; nothing left running")


def _terminate(pids: list[int], sigs: list[signal.Signals], grace: float) -> None:
    for pid, sig in zip(pids, sigs):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
