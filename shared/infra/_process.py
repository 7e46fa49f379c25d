"""Helpers shared by the infrastructure modules (not part of the public API)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import IO

import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]


class InfraError(RuntimeError):
    """Local infrastructure could not be provisioned or did not become ready."""


def cache_dir() -> Path:
    """Git-ignored download cache; TIENDO_CACHE_DIR lets CI point it at a cached volume."""
    return Path(os.environ.get("TIENDO_CACHE_DIR", REPO_ROOT / ".cache"))


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {path})"
    return f"--- {path} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int | None) -> bool:
    """True if pid runs; zombies count as gone (PID 1 in containers may never reap them)."""
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class ChildServer:
    """A server run as our child process, its output in a file we own.

    Subclasses set `_proc` and `_output` when they start it; stopping and crashing it, and
    reaping the child so no zombie or open file is left behind, are the same for all of them.
    """

    _proc: subprocess.Popen[bytes] | None = None
    _output: IO[bytes] | None = None

    def _reap(self, grace: float) -> None:
        assert self._proc is not None
        try:
            self._proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._output:
            self._output.close()
            self._output = None

    def stop(self, grace: float = 30) -> None:
        """Controlled shutdown (SIGTERM); SIGKILL if it takes longer than `grace` s."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        self._reap(grace)

    def kill(self) -> None:
        """Crash it (SIGKILL), for fault tests."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._reap(10)
