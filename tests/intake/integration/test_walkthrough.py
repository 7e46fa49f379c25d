"""docs/intake.md, run as written: every `$ ` command of its console blocks, in order, against a
real intake on loopback (the `tiendo` CLI issues the token, curl sends docs/examples/*.json), each
answer compared with the output the document shows. The environment-specific values (the
local stack's record, the token just issued, intake's address) replace those of the machine the
document was written on."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .test_sdk_interop import intake  # noqa: F401 - the running intake fixture

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "intake.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
TOKEN = re.compile(r"tdo_[0-9a-f]{12}_[A-Za-z0-9_-]+")


def console_commands(text: str) -> list[tuple[str, str]]:
    """(command, the output shown after it) for every `$ ` line, continuation lines joined."""
    steps = []
    for lang, body in BLOCK.findall(text):
        if lang != "console":
            continue
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            command = [lines[i][2:]]
            while command[-1].endswith("\\"):
                i += 1
                command.append(lines[i])
            i += 1
            output = []
            while i < len(lines) and not lines[i].startswith("$ "):
                output.append(lines[i])
                i += 1
            steps.append(("\n".join(command), "\n".join(output).strip()))
    return steps


def covers(actual, expected, where: str = "") -> None:
    """What the document shows is in the answer: every key it shows, with the value it shows."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}/{key} missing from {actual!r}"
            covers(actual[key], value, f"{where}/{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r}"
        for n, (a, e) in enumerate(zip(actual, expected)):
            covers(a, e, f"{where}/{n}")
    else:
        assert actual == expected, f"{where}: the document shows {expected!r}, intake answered {actual!r}"


def check_http(answer: str, shown: str, command: str) -> None:
    if shown.startswith("HTTP/"):
        head, _, body = answer.replace("\r\n", "\n").partition("\n\n")
        shown_head, _, shown_body = shown.partition("\n\n")
        status, *headers = head.splitlines()
        shown_status, *shown_headers = shown_head.splitlines()
        assert status.split()[1] == shown_status.split()[1], f"{command}\n{answer}"
        lower = {h.lower().strip() for h in headers}
        for header in shown_headers:
            assert header.lower().strip() in lower, f"{header} not in {headers}"
    else:
        body, shown_body = answer, shown
    covers(json.loads(body), json.loads(shown_body), "")


async def run(command: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, f"{command}\n{out.decode()}\n{err.decode()}"
    return subprocess.CompletedProcess(command, process.returncode, out.decode(), err.decode())


async def test_the_walkthrough_runs_as_written(intake, tmp_path):  # noqa: F811
    text = DOC.read_text(encoding="utf-8")
    steps = console_commands(text)
    assert sum("curl" in c for c, _ in steps) >= 5, "the walkthrough lost its curl commands"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DATABASE_URL", None)  # `tiendo` finds the database as on a clone: in the local stack's record
    (tmp_path / "stack.json").write_text(json.dumps({"database_url": intake.settings.database_url}))
    env["TIENDO_STATE_DIR"] = str(tmp_path)
    given = {"INTAKE": intake.url}
    cwd, ran = ROOT, 0
    for command, shown in steps:
        if command.startswith("export "):
            name = command.split()[1].split("=", 1)[0]
            if name == "PATH":
                continue  # the repository's environment is already first on it
            assert name in given or name == "TOKEN", (
                f"the walkthrough exports {name}: tell this test its value"
            )
            if name != "TOKEN":
                env[name] = given[name]
            continue
        if command.startswith("cd "):
            cwd = cwd / command[3:].strip()
            assert cwd.is_dir(), command
            continue
        result = await run(command, cwd, env)  # not blocking: intake answers in this event loop
        ran += 1
        if command.startswith("tiendo agency token create"):
            assert TOKEN.fullmatch(result.stdout.splitlines()[0]), result.stdout
            env["TOKEN"] = result.stdout.splitlines()[0]
            assert TOKEN.fullmatch(shown.splitlines()[0]), "the document shows a token of another form"
        elif command.startswith("curl"):
            check_http(result.stdout, shown, command)
        else:
            pytest.fail(f"the walkthrough runs {command!r}: teach this test what to expect of it")
    assert ran >= 6


def test_the_files_the_walkthrough_sends_are_those_it_shows():
    text = DOC.read_text(encoding="utf-8")
    [shown] = [json.loads(body) for lang, body in BLOCK.findall(text) if lang == "json"]
    assert json.loads((ROOT / "docs" / "examples" / "first.json").read_text(encoding="utf-8")) == shown
    for name in re.findall(r"@(\w+\.json)", text):
        assert (ROOT / "docs" / "examples" / name).is_file(), name
