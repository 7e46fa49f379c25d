"""Fault plumbing of the project's own, for the fault suite: network namespaces joined to this
one by veth pairs (a partition is a pair taken down), and size-limited tmpfs filesystems (a
full disk). Both need root (CAP_NET_ADMIN, CAP_SYS_ADMIN); `can_*` say whether this machine
allows them.

Nothing here touches a real network interface: every address is in 10.213.0.0/16 on a veth
pair this module made, and everything it makes is named after the pid that made it, so a run
killed before its clean-up is swept by the next one (`sweep_orphans`).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.infra._process import InfraError, pid_alive

_PREFIX = "tiendo"
_NETNS = re.compile(rf"^{_PREFIX}-(\d+)-\w+")
_MOUNT = re.compile(rf"/{_PREFIX}-disk-(\d+)-\w+$")
_SUBNETS = ipaddress.ip_network("10.213.0.0/16")
_counter = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise InfraError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def can_use_namespaces() -> bool:
    """True if this process may create network namespaces and veth pairs."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        return False
    name = f"{_PREFIX}-{os.getpid()}-probe{next(_counter)}"
    if _ip("netns", "add", name, check=False).returncode != 0:
        return False
    _ip("netns", "del", name, check=False)
    return True


def can_mount_tmpfs() -> bool:
    if os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory(prefix=f"{_PREFIX}-probe-") as point:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", point], capture_output=True
        )
        if mounted.returncode != 0:
            return False
        subprocess.run(["umount", point], capture_output=True)
    return True


@dataclass(frozen=True)
class Link:
    """One veth pair: `host_address` on this side, `address` inside the namespace."""

    host_device: str
    device: str
    host_address: str
    address: str


class NetworkNamespace:
    """A network namespace of the project's own; `link()` joins it to this one by a veth pair."""

    def __init__(self) -> None:
        sweep_orphans()
        self.name = f"{_PREFIX}-{os.getpid()}-{secrets.token_hex(3)}"
        self.links: list[Link] = []
        _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")

    @property
    def exec_prefix(self) -> list[str]:
        """Prepended to a command, runs it inside the namespace (same pid: `ip` execs it)."""
        return ["ip", "netns", "exec", self.name]

    def link(self) -> Link:
        """A new veth pair between this namespace and the host, on a /30 of its own."""
        used = set(re.findall(r"inet (10\.213\.\d+\.\d+)/", _ip("-o", "-4", "addr").stdout))
        for subnet in _SUBNETS.subnets(new_prefix=30):
            host, inner = (str(a) for a in subnet.hosts())
            if host not in used:
                break
        else:
            raise InfraError(f"no free /30 left in {_SUBNETS}")
        tag = secrets.token_hex(4)
        host_device, device = f"td{tag}h", f"td{tag}n"
        _ip("link", "add", host_device, "type", "veth", "peer", "name", device, "netns", self.name)
        _ip("addr", "add", f"{host}/30", "dev", host_device)
        _ip("link", "set", host_device, "up")
        _ip("-n", self.name, "addr", "add", f"{inner}/30", "dev", device)
        _ip("-n", self.name, "link", "set", device, "up")
        link = Link(host_device, device, host, inner)
        self.links.append(link)
        return link

    def cut(self, link: Link) -> None:
        """Partition: the pair's inside end goes down; packets either way are dropped, no reset."""
        _ip("-n", self.name, "link", "set", link.device, "down")

    def heal(self, link: Link) -> None:
        _ip("-n", self.name, "link", "set", link.device, "up")
        # Addresses that failed to resolve while cut would stay unreachable for a while.
        _ip("neigh", "flush", "dev", link.host_device, check=False)
        _ip("-n", self.name, "neigh", "flush", "dev", link.device, check=False)

    def remove(self) -> None:
        """Delete the namespace (its veth pairs go with it). Processes still inside keep running
        without a network: stop them first."""
        _ip("netns", "del", self.name, check=False)
        for link in self.links:
            _ip("link", "del", link.host_device, check=False)

    def __enter__(self) -> NetworkNamespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class SmallDisk:
    """A tmpfs of `size_mb` megabytes mounted at a directory of its own (mode 755, so the
    PostgreSQL OS user can live in it); `fill()` leaves `keep_kb` free, `release()` frees it."""

    def __init__(self, size_mb: int) -> None:
        sweep_orphans()
        self.path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}-disk-{os.getpid()}-"))
        self.path.chmod(0o755)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=755", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            self.path.rmdir()
            raise InfraError(f"cannot mount a tmpfs at {self.path}: {mounted.stderr.strip()}")
        self._ballast = self.path / "ballast"

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path).free

    def fill(self, keep_kb: int = 0) -> int:
        """Write a ballast file until only `keep_kb` KiB are free; returns the ballast's size."""
        chunk = b"\0" * (1 << 20)
        with open(self._ballast, "ab") as ballast:
            while (free := self.free_bytes()) > keep_kb * 1024:
                try:
                    ballast.write(chunk[: min(len(chunk), free - keep_kb * 1024)])
                    ballast.flush()
                except OSError:
                    break
        return self._ballast.stat().st_size

    def release(self) -> None:
        self._ballast.unlink(missing_ok=True)

    def remove(self) -> None:
        """Unmount (lazily if something still holds it) and remove the mount point."""
        if subprocess.run(["umount", str(self.path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)


def _namespaces() -> list[str]:
    if shutil.which("ip") is None:
        return []
    lines = _ip("netns", "list", check=False).stdout.splitlines()
    return [line.split()[0] for line in lines if line.strip()]


def namespaces_of(pid: int) -> list[str]:
    """The network namespaces process `pid` made and has not removed."""
    return [name for name in _namespaces() if name.startswith(f"{_PREFIX}-{pid}-")]


def sweep_orphans() -> list[str]:
    """Remove namespaces and tmpfs mounts left by a process of this module that is gone."""
    swept = []
    for name in _namespaces():
        match = _NETNS.match(name)
        if match and not pid_alive(int(match.group(1))):
            _ip("netns", "del", name, check=False)
            swept.append(name)
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        mounts = []
    for line in mounts:
        fields = line.split()
        match = _MOUNT.search(fields[1]) if len(fields) > 1 else None
        if match and not pid_alive(int(match.group(1))):
            subprocess.run(["umount", "-l", fields[1]], capture_output=True)
            shutil.rmtree(fields[1], ignore_errors=True)
            swept.append(fields[1])
    return swept
