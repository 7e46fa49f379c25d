"""A real Prometheus server (Debian's `prometheus` package), no Docker engine needed.

`PrometheusServer(workdir).start(config_text)` writes the config (and any rule files given)
into `workdir`, starts `prometheus` on a free loopback port and waits for `/-/ready`.
`find_prometheus()` returns the `prometheus` and `promtool` binaries, installing Debian's
package with apt-get (no recommends) when they are missing and we are root. The package's
postinst may try to start a system-wide Prometheus on :9090 (and, with recommends, a node
exporter); where init scripts are allowed to run, that one is stopped again so it cannot
collide with ours or with anything else on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from shared.infra._process import ChildServer, InfraError, tail
from shared.infra.ports import free_port

HOST = "127.0.0.1"
PACKAGE = "prometheus"
INSTALL_HINT = "install Debian's package: `apt-get install --no-install-recommends prometheus`"


@dataclass(frozen=True)
class PrometheusBinaries:
    prometheus: Path
    promtool: Path


def _which() -> PrometheusBinaries | None:
    server, tool = shutil.which("prometheus"), shutil.which("promtool")
    if server and tool:
        return PrometheusBinaries(Path(server), Path(tool))
    return None


def _system_prometheus_pids() -> list[int]:
    """Processes of the package's own daemon (run as user `prometheus` from /usr/bin)."""
    pids = []
    for proc in psutil.process_iter(["pid", "exe", "username"]):
        try:
            if proc.info["exe"] == "/usr/bin/prometheus" and proc.info["username"] == "prometheus":
                pids.append(proc.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def _stop_system_daemon(before: set[int]) -> None:
    """Stop a system Prometheus the package's postinst started (pids not there before)."""
    started = [pid for pid in _system_prometheus_pids() if pid not in before]
    if not started:
        return
    subprocess.run(["invoke-rc.d", PACKAGE, "stop"], capture_output=True)
    subprocess.run(["systemctl", "disable", "--now", PACKAGE], capture_output=True)
    for pid in started:
        try:
            psutil.Process(pid).terminate()
            psutil.Process(pid).wait(10)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            psutil.Process(pid).kill()


def find_prometheus() -> PrometheusBinaries:
    """`prometheus` and `promtool`; installs Debian's package when root and missing."""
    found = _which()
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing Prometheus with apt-get (once)...", file=sys.stderr, flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        before = set(_system_prometheus_pids())
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", PACKAGE]):
            result = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise InfraError(f"`{' '.join(cmd)}` failed:\n{result.stderr[-3000:]}")
        _stop_system_daemon(before)
        found = _which()
        if found:
            return found
    raise InfraError(f"`prometheus`/`promtool` not found; {INSTALL_HINT}")


def promtool(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `promtool` (installing it when needed); the caller checks `returncode`."""
    return subprocess.run(
        [str(find_prometheus().promtool), *args], capture_output=True, text=True, timeout=timeout
    )


class PrometheusServer(ChildServer):
    """One Prometheus whose config, rules, TSDB and log live in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._output = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise InfraError("Prometheus was never started")
        return f"http://{HOST}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self.is_running() else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, config: str, files: dict[str, str] | None = None, timeout: float = 60) -> str:
        """Write `config` (and `files`: relative path → text, e.g. rule files the config names)
        into the workdir, start, wait for `/-/ready`; returns the base URL."""
        if self.is_running():
            raise InfraError(f"Prometheus already runs at {self.url}")
        binaries = find_prometheus()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for relative, text in (files or {}).items():
            path = self.workdir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.config_path.write_text(config)
        if self.port is None:
            self.port = free_port(HOST)
        self._output = open(self.log_path, "ab")
        cmd = [
            str(binaries.prometheus),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={HOST}:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=info",
        ]
        # cwd = workdir: relative rule_files paths resolve against the config's directory anyway.
        self._proc = subprocess.Popen(
            cmd, cwd=self.workdir, stdout=self._output, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._await_ready(timeout)
        return self.url

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                self._reap(1)
                raise InfraError(f"Prometheus exited during start-up\n{tail(self.log_path)}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise InfraError(f"Prometheus not ready at {self.url} after {timeout:.0f}s\n{tail(self.log_path)}")

    def query(self, expr: str, at: float | None = None) -> dict:
        """An instant query; returns the API's JSON (`status`, `data` or `error`)."""
        params = {"query": expr, **({"time": str(at)} if at is not None else {})}
        return httpx.get(f"{self.url}/api/v1/query", params=params, timeout=30).json()

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
