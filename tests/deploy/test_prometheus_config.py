"""The Prometheus config, alert rules and Grafana dashboards, checked by Prometheus' own tool
(`promtool` from Debian's package, installed when missing) and for what operators rely on:
each alert fires and stays quiet as intended (`promtool test rules`), has an absolute runbook URL
to a heading of the doc, and
every dashboard query goes to the provisioned datasource."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
import yaml

from shared.infra.prometheus import promtool
from tests.deploy import promql

OPERATIONS = promql.REPO_ROOT / "docs" / "operations.md"
# The repository on GitHub, where an alert's runbook_url opens the committed doc.
RUNBOOK_BASE = "/tiendo/tiendo/blob/main/"
ALERT_TESTS = sorted((promql.REPO_ROOT / "tests" / "deploy" / "prometheus").glob("*_test.yml"))


def _ok(result) -> str:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_promtool_accepts_the_config_and_the_rules():
    out = _ok(promtool("check", "config", str(promql.DEPLOY / "prometheus" / "prometheus.yml")))
    assert (
        "SUCCESS" in out and f"{len(promql.rules())} rules found" in out
    )  # the config's rule_files glob finds them
    _ok(promtool("check", "rules", *map(str, promql.RULE_FILES)))


def test_promtool_rejects_a_broken_rule(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum(rate(up[5m]) > \n")
    assert promtool("check", "rules", str(broken)).returncode != 0


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_say():
    out = _ok(promtool("test", "rules", *map(str, ALERT_TESTS), timeout=120))
    assert out.count("SUCCESS") == len(ALERT_TESTS) == 2
    tests = [t for path in ALERT_TESTS for t in yaml.safe_load(path.read_text())["tests"]]
    cases = [case for t in tests for case in t["alert_rule_test"]]
    alerts = {r["alert"] for r in promql.rules() if "alert" in r}
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert alerts - fired == set(), f"alerts never shown firing: {sorted(alerts - fired)}"
    assert alerts - quiet == set(), f"alerts never shown quiet: {sorted(alerts - quiet)}"


def headings(doc) -> set[str]:
    """The anchors GitHub makes of a Markdown file's headings (lower case, spaces to hyphens,
    other punctuation dropped)."""
    return {
        re.sub(r"[^a-z0-9-]", "", h.strip().lower().replace(" ", "-"))
        for h in re.findall(r"^#+ (.+)$", doc.read_text(), re.M)
    }


def test_every_alert_has_an_absolute_runbook_url_to_a_heading_and_a_severity():
    """An alert is read in Prometheus, Grafana or an Alertmanager email, far from this tree: its
    runbook_url must open the doc on its own, at a heading that exists in the committed file."""
    for rule in promql.rules():
        if "alert" not in rule:
            continue
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        url = urlsplit(rule["annotations"]["runbook_url"])
        assert (url.scheme, url.netloc) == ("https", "github.com"), f"{name}: {url.geturl()} is not absolute"
        assert url.path.startswith(RUNBOOK_BASE), f"{name}: {url.geturl()}"
        doc = promql.REPO_ROOT / url.path.removeprefix(RUNBOOK_BASE)
        assert doc.is_file(), f"{name}: {url.geturl()} names no file of this repository"
        assert url.fragment == name.lower(), f"{name}: the anchor is the alert's name in lower case"
        assert url.fragment in headings(doc), f"{doc.name} has no runbook heading for {name}"


def test_a_runbook_anchor_must_be_a_heading():
    assert "tiendoservicedown" in headings(OPERATIONS)
    assert "tiendoservicedow" not in headings(OPERATIONS)  # a prefix of a heading is not one


def test_dashboards_query_the_provisioned_datasource():
    """Every panel and variable queries the dashboard's data-source variable (Grafana's linter
    rule), whose default is the provisioned Prometheus."""
    provisioned = yaml.safe_load(
        (promql.DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    uids = set()
    assert len(promql.DASHBOARDS) >= 2
    for path in promql.DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids
        uids.add(dashboard["uid"])
        variables = dashboard.get("templating", {}).get("list", [])
        sources = [v for v in variables if v["type"] == "datasource"]
        assert [(v["name"], v["query"], v["current"]["value"]) for v in sources] == [
            ("datasource", provisioned["type"], provisioned["uid"])
        ], path.name
        templated = {"type": provisioned["type"], "uid": "${datasource}"}
        panels = promql._panels(dashboard["panels"])
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in panels:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == templated, f"{path.name} / {panel['title']}"
            assert panel["targets"], f"{path.name} / {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["expr"].strip() and target["datasource"] == templated
        for variable in variables:
            if variable["type"] not in ("datasource", "constant"):  # a constant queries nothing
                assert variable["datasource"] == templated, f"{path.name} / ${variable['name']}"


def test_selectors_are_found_where_promql_puts_them():
    expr = (
        'sum by (indicator, status) (max by (indicator, status) (aggregator_current_kpis{status=~"a|b"}))'
        " / on () group_left sum(rate(x_total[5m])) and on() time() - max(y) > 3"
        ' or histogram_quantile(0.9, sum by (le) (rate(h_bucket{le!="1"}[1m]))) unless {__name__="z"}'
    )
    assert promql.selectors(expr) == [
        'aggregator_current_kpis{status=~"a|b"}',
        "x_total",
        "y",
        'h_bucket{le!="1"}',
        '{__name__="z"}',
    ]
    assert promql.selectors("vector(0) or (count(up == 0) bool > 1)") == ["up"]


def test_ranges_shrink_and_variables_take_all():
    assert (
        promql.for_test('rate(a{i=~"$indicator"}[$__rate_interval]) + increase(b[1d]) + c[10m:1m]', "42s")
        == 'rate(a{i=~".*"}[42s]) + increase(b[42s]) + c[10m:1m]'
    )
    with pytest.raises(AssertionError, match="unknown variable"):
        promql.for_test("rate(a[$nope])", "42s")
