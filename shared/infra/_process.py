"""Helpers shared by the infrastructure modules (not part of the public API)."""

from __future__ import annotations

import os
from pathlib import Path

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
