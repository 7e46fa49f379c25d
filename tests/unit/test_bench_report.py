"""`make bench`'s report: each goal's figure quoted from the benchmarks' own output, and a
component's own document nested under the report's headings."""

from __future__ import annotations

from bench import run_all


def test_the_report_quotes_every_figure_stated_against_a_goal():
    intake = (
        "round 1: ...\n  ratio intake / raw send(): median 0.40x (goal >= 0.50x every round: NOT met)\n"
        "  ratio single intake / peer at  8 clients: median 0.31x\n"
        "  ratio single intake / peer at 32 clients: median 0.46x (goal >= 0.50x: NOT met by the median)\n"
    )
    aggregator = (
        "raw aiokafka getmany + json.loads : 86,186 events/s\n"
        "aggregator (own process) : 22,715 events/s = 0.26x raw (goal >= 0.5x)\n"
        "rebuild of 1,000,000 events : 38.2 s (goal <= 60 s)\n"
        "end-to-end at 11,358/s (half) : p99 <= 400 ms\n"
    )
    text = run_all.verdicts([intake, aggregator])
    assert text.startswith("## This run against the goals")
    assert [line.split(":")[0].strip() for line in text.splitlines()[3:-1]] == [
        "ratio intake / raw send()",
        "ratio single intake / peer at 32 clients",
        "aggregator (own process)",
        "rebuild of 1,000,000 events",
        "end-to-end at 11,358/s (half)",
    ]
    assert run_all.verdicts(["nothing measured"]) == ""


def test_a_component_document_is_nested_one_level_down(tmp_path, monkeypatch):
    monkeypatch.setattr(run_all, "DOCS", tmp_path)
    (tmp_path / "benchmarks-intake.md").write_text("# Intake benchmark\n\ntext\n\n## Goal\n\n### Detail\n")
    section = run_all.component_section("intake", "output", 1.0, 0)
    headings = [line for line in section.splitlines() if line.startswith("#")]
    assert headings == ["## Intake benchmark", "### Goal", "#### Detail", "### This run"]
