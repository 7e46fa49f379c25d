"""A test session must leave nothing behind under the temporary directory (issue 22).

Loaded by pytest (`-p tests.leftovers` in pyproject.toml). At the start of the session every
temporary file of the session's own processes goes to a private directory
(`$TMPDIR/tiendo-test-<pid>`, world-traversable because PostgreSQL, run as its own user, may be
relocated there); when the session ends, after every fixture is torn down, that directory must
be empty, no new `tiendo-*` / `bench-*` entry may be left in the system's temporary directory
(some programs, such as a JVM, write to /tmp whatever TMPDIR says), and no network namespace the
session made (`shared.infra.faults`) may be left. Anything found fails the
session and is named. pytest's own `tmp_path` directories are pytest's to prune
(`tmp_path_retention_policy`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from shared.infra.faults import namespaces_of

PROJECT_PREFIXES = ("tiendo-", "bench-")
PRIVATE_PREFIX = "tiendo-test-"


def project_entries(root: Path) -> set[str]:
    """The names in `root` that the project's own code makes (throwaway clusters, benchmarks)."""
    try:
        return {p.name for p in root.iterdir() if p.name.startswith(PROJECT_PREFIXES)}
    except FileNotFoundError:
        return set()


def leftovers(private: Path, system_root: Path, before: set[str]) -> list[str]:
    """What a session left: everything in its private directory, and new project entries in the
    system's temporary directory (the private directory itself excepted)."""
    found = sorted(str(p) for p in private.rglob("*")) if private.exists() else []
    # Other sessions' private directories are theirs (sessions may run side by side).
    new = {n for n in project_entries(system_root) - before if not n.startswith(PRIVATE_PREFIX)}
    return found + sorted(str(system_root / name) for name in new)


class LeftoverCheck:
    def __init__(self) -> None:
        self.system_root = Path(tempfile.gettempdir())
        self.before = project_entries(self.system_root)
        self.private = self.system_root / f"{PRIVATE_PREFIX}{os.getpid()}"
        self.private.mkdir(mode=0o755, exist_ok=True)
        self.private.chmod(0o755)
        self.saved = os.environ.get("TMPDIR"), tempfile.tempdir
        os.environ["TMPDIR"] = str(self.private)
        tempfile.tempdir = str(self.private)

    def restore(self) -> None:
        saved_env, saved_tempdir = self.saved
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        tempfile.tempdir = saved_tempdir

    def finish(self) -> list[str]:
        self.restore()
        found = leftovers(self.private, self.system_root, self.before)
        found += [f"network namespace {name}" for name in namespaces_of(os.getpid())]
        shutil.rmtree(self.private, ignore_errors=True)  # named below, then removed: no pile-up
        return found


_check: LeftoverCheck | None = None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    global _check
    if _check is not None or hasattr(config, "workerinput"):
        return
    # pytest's own basetemp is resolved in the system's directory first: it stays pytest's to prune.
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        factory.getbasetemp()
    _check = LeftoverCheck()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _check
    if _check is None:
        return
    found, _check = _check.finish(), None
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"the test session left {len(found)} path(s) behind in the temporary directory:"]
    lines += [f"  {path}" for path in found[:20]] + (["  ..."] if len(found) > 20 else [])
    if reporter is not None:
        reporter.write_line("")
        reporter.write_sep("=", "left behind", red=True)
        reporter.write_line("\n".join(lines))
    if session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
