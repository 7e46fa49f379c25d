"""docs/asyncapi.yaml validated by the official AsyncAPI parser (npm @asyncapi/parser, on the
machine's Node.js, installed by the test into .cache/): no error and no warning."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from services.intake.entrypoints import asyncapi_docs

from .npm_cache import node_modules

pytestmark = pytest.mark.infra
PARSER = "@asyncapi/parser@3.6.6"
SCRIPT = Path(__file__).with_name("asyncapi_js") / "validate.js"


def parse(path: Path) -> dict:
    modules = node_modules(PARSER, "npm-asyncapi-parser")
    result = subprocess.run(
        ["node", str(SCRIPT), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_PATH": str(modules)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_the_asyncapi_document_is_valid():
    report = parse(asyncapi_docs.DOC_PATH)
    problems = [d for d in report["diagnostics"] if d["severity"] <= 1]  # 0 error, 1 warning
    assert report["parsed"] and problems == [], problems
    assert report["channels"] == [
        "progress.raw.v1.{agency}",
        "progress.raw.v1",
        "progress.events.v1",
        "progress.dlq.v1",
        "kpi.status.v1",
    ]
    assert "dead-letter" in report["messages"]


def test_the_parser_catches_a_broken_document(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(asyncapi_docs.render().replace("retention.ms: 1209600000", "retention.ms: -5"))
    assert any(d["severity"] == 0 for d in parse(broken)["diagnostics"])
