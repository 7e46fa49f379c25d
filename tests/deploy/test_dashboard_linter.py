"""Grafana's own dashboard linter (github.com/grafana/dashboard-linter, vendored in
tests/deploy/third_party/dashboard_linter/, see VENDORED.md), built with the machine's Go from that source,
passes every provisioned dashboard in --strict mode: warnings fail too."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.infra._process import cache_dir
from tests.deploy import promql

SOURCE = Path(__file__).parent / "third_party" / "dashboard_linter"


@pytest.fixture(scope="module")
def linter() -> Path:
    go = shutil.which("go")
    assert go, "Go is needed to build Grafana's dashboard linter (tests/deploy/third_party/dashboard_linter)"
    files = sorted(p for p in SOURCE.rglob("*") if p.is_file())
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]
    binary = cache_dir() / f"dashboard-linter-{digest}"
    binary.parent.mkdir(parents=True, exist_ok=True)
    with open(binary.parent / "dashboard-linter.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
            built = subprocess.run(
                [go, "build", "-o", str(binary), "."],
                cwd=SOURCE,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert built.returncode == 0, f"building the linter failed:\n{built.stderr[-3000:]}"
    return binary


def lint(linter: Path, dashboard: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(linter), "lint", "--strict", str(dashboard)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("dashboard", promql.DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_passes_grafana_s_linter_in_strict_mode(linter, dashboard):
    result = lint(linter, dashboard)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "❌" in line or "⚠️" in line]
    assert result.returncode == 0 and not problems, "\n".join(problems) or result.stderr


def test_the_linter_finds_what_it_should(linter, tmp_path):
    """It really checks: an editable dashboard whose query lacks the $job matcher fails."""
    dashboard = json.loads(promql.DASHBOARDS[0].read_text())
    dashboard["editable"] = True
    panel = next(p for p in promql._panels(dashboard["panels"]) if p.get("targets"))
    panel["targets"][0]["expr"] = "up"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(dashboard))
    result = lint(linter, broken)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "editable" in output and "job selector not found" in output


def test_a_loki_target_is_refused_not_skipped(linter, tmp_path):
    """This build leaves out Loki's parser (third_party/dashboard_linter/VENDORED.md): a LogQL
    query fails the lint instead of passing unchecked."""
    dashboard = json.loads(promql.DASHBOARDS[0].read_text())
    panel = next(p for p in promql._panels(dashboard["panels"]) if p.get("targets"))
    panel["datasource"] = panel["targets"][0]["datasource"] = {"type": "loki", "uid": "logs"}
    panel["targets"][0]["expr"] = 'sum(count_over_time({job="intake"}[5m]))'
    loki = tmp_path / "loki.json"
    loki.write_text(json.dumps(dashboard))
    result = lint(linter, loki)
    assert result.returncode != 0
    assert "does not parse LogQL" in result.stdout + result.stderr
