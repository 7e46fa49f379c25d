"""npm packages for tests, installed once into .cache/ (git-ignored, shared by concurrent sessions
under a lock); a test needing one is skipped only where Node.js is not installed."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.infra._process import cache_dir


def node_modules(spec: str, directory: str) -> Path:
    """`spec` (name@version) installed under .cache/<directory>; its node_modules directory."""
    if not shutil.which("node") or not (npm := shutil.which("npm")):
        pytest.skip(f"Node.js (node and npm) is not installed: {spec} cannot run")
    name, _, version = spec.rpartition("@")
    prefix = cache_dir() / directory
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        package = prefix / "node_modules" / name / "package.json"
        if not package.exists() or json.loads(package.read_text())["version"] != version:
            result = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(prefix),
                    "--no-audit",
                    "--no-fund",
                    "--no-save",
                    "--loglevel=error",
                    spec,
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, f"npm install {spec} failed:\n{result.stderr[-2000:]}"
    return prefix / "node_modules"
