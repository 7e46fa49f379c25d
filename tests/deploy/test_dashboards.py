"""The provisioned Grafana dashboards, beside Grafana's own linter (test_dashboard_linter.py): not
editable, every panel says what it shows and in which unit, statuses are shown in Vietnamese with
the words of shared/labels.py, agencies and indicators by name, and a link to the board."""

from __future__ import annotations

import json
import re

import pytest

from shared.labels import KPI_STATUS, REPORT_STATUS

from . import promql

STATUS_WORDS = {name: words["vi"] for name, words in {**KPI_STATUS, **REPORT_STATUS}.items()}
DASHBOARDS = {path.name: json.loads(path.read_text()) for path in promql.DASHBOARDS}


def panels(dashboard: dict) -> list[dict]:
    return [p for p in promql._panels(dashboard["panels"]) if p["type"] != "row"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_a_provisioned_dashboard_is_not_editable(name):
    assert DASHBOARDS[name]["editable"] is False


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_has_a_description_and_a_unit(name):
    lacking = [
        (p["title"], what)
        for p in panels(DASHBOARDS[name])
        for what, ok in (
            ("description", bool(p.get("description", "").strip())),
            ("unit", bool(p.get("fieldConfig", {}).get("defaults", {}).get("unit"))),
        )
        if not ok
    ]
    assert lacking == []


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_a_panel_that_shows_statuses_names_each_in_vietnamese(name):
    for panel in panels(DASHBOARDS[name]):
        exprs = " ".join(t["expr"] for t in panel["targets"])
        if not re.search(r"by \([^)]*\bstatus\b", exprs) or not re.search(r"aggregator_(kpi|reports)", exprs):
            continue  # not a KPI or report status (FastStream's and the outbox's are operators' words)
        renamed = {
            t["options"]["regex"]: t["options"]["renamePattern"]
            for t in panel.get("transformations", [])
            if t["id"] == "renameByRegex"
        }
        assert renamed == {f"^{s}$": words for s, words in STATUS_WORDS.items()}, panel["title"]
        mapped = [
            prop["value"][0]["options"]
            for override in panel["fieldConfig"]["overrides"]
            if override["matcher"] == {"id": "byName", "options": "status"}
            for prop in override["properties"]
            if prop["id"] == "mappings"
        ]
        assert [{s: m["text"] for s, m in found.items()} for found in mapped] == [STATUS_WORDS], panel[
            "title"
        ]


def test_plan_progress_links_to_the_committee_s_board():
    """Operators and the secretariat go from Grafana to the board people read (issue 19)."""
    dashboard = DASHBOARDS["plan-progress.json"]
    [link] = dashboard["links"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert link["url"] == "${board_url}" and link["title"].startswith("Bảng tổng hợp")
    board = variables["board_url"]
    assert board["type"] == "constant" and board["query"].endswith("/board")
    compose = (promql.DASHBOARDS[0].parents[2] / "docker-compose.yml").read_text()
    assert "${AGGREGATOR_WEB_PORT:-8082}:8082" in compose and board["query"] == "http://localhost:8082/board"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_show_agencies_and_indicators_by_name_not_code(name):
    """A panel whose series are keyed by agency or indicator joins the plan's names
    (aggregator_agency_info, aggregator_indicator_info): legends and tables show "Công an huyện
    Hướng Hóa", not CA-HUONG-HOA."""
    for panel in panels(DASHBOARDS[name]):
        for target in panel["targets"]:
            legend, expr = target.get("legendFormat", ""), target["expr"]
            outer = re.match(r"^\(*\s*\w+ by \(([^)]*)\)", expr)
            keyed = {label.strip() for label in outer[1].split(",")} if outer else set()
            for label, info in (
                ("agency", "aggregator_agency_info"),
                ("indicator", "aggregator_indicator_info"),
            ):
                assert "{{" + label + "}}" not in legend, (panel["title"], legend)
                if label in keyed or "{{" + label + "_name}}" in legend:
                    join = rf"group_left \({label}_name\) max by \({label}, {label}_name\) \({info}[{{)]"
                    assert re.search(join, expr), (panel["title"], expr)
                if label in keyed and panel["type"] == "table":
                    hidden = [
                        t["options"].get("excludeByName", {})
                        for t in panel.get("transformations", [])
                        if t["id"] == "organize"
                    ]
                    assert any(h.get(label) for h in hidden), (panel["title"], f"{label} codes shown")
