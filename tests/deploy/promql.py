"""What the deploy tests need to know about PromQL: every expression of every dashboard panel and
alert rule, their vector selectors, and the substitutions a short test run needs.

Substitutions (the expression's structure never changes): Grafana's `$__rate_interval`,
`$__interval`, `$__range` and every range literal `[10m]`, `[1d]`, ... become one window that
covers the test's whole run; a dashboard variable such as `$indicator` becomes `.*` (its "All").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from shared.infra._process import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
RULE_FILES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))


@dataclass(frozen=True)
class Expression:
    where: str  # "dashboard pipeline-health.json / panel 'X' / A" or "rule TiendoServiceDown"
    expr: str
    kind: str  # "panel" | "alert" | "record"


def panel_expressions() -> list[Expression]:
    found = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard["panels"]):
            for target in panel.get("targets", []):
                found.append(
                    Expression(
                        f"{path.name} / {panel['title']!r} / {target['refId']}", target["expr"], "panel"
                    )
                )
    return found


def _panels(panels: list[dict]) -> list[dict]:
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(_panels(panel.get("panels", [])))
    return out


def rules() -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def rule_expressions() -> list[Expression]:
    return [
        Expression(
            f"rule {r.get('alert') or r.get('record')}", r["expr"], "alert" if "alert" in r else "record"
        )
        for r in rules()
    ]


def dashboard_variables() -> set[str]:
    return {
        v["name"]
        for path in DASHBOARDS
        for v in json.loads(path.read_text()).get("templating", {}).get("list", [])
    }


_GRAFANA_RANGES = ("$__rate_interval", "$__interval", "$__range")
_RANGE = re.compile(r"\[(\d+[smhdwy])+\]")


def for_test(expr: str, window: str) -> str:
    """The expression as the live test runs it: short ranges, variables at "All"."""
    for name in _GRAFANA_RANGES:
        expr = expr.replace(name, window)
    expr = _RANGE.sub(f"[{window}]", expr)
    for name in dashboard_variables():
        expr = expr.replace(f"${{{name}}}", ".*").replace(f"${name}", ".*")
    if "$" in expr:
        raise AssertionError(f"unknown variable left in {expr!r}")
    return expr


# ---- a small PromQL lexer: enough to find vector selectors -----------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<braces>\{(?:"(?:[^"\\]|\\.)*"|[^}"])*\})
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:[smhdwy]\b)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<punct>[()\],]|==|!=|>=|<=|=~|!~|[-+*/%^<>=@])
""",
    re.VERBOSE,
)
_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_WORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
_AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot lex {expr[pos : pos + 20]!r} in {expr!r}")
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
        pos = m.end()
    return out


def selectors(expr: str) -> list[str]:
    """The vector selectors (`name{matchers}` or `{matchers}`) of an expression, in order."""
    toks, found, i = _tokens(expr), [], 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if kind == "ident":
            word = text.lower()
            if word in _LIST_KEYWORDS:
                i += 1
                if following[1] == "(":  # skip the label list
                    while toks[i][1] != ")":
                        i += 1
            elif word in _WORDS or word in _AGGREGATIONS or following[1] == "(":
                pass  # an operator keyword, an aggregation or a function
            elif following[0] == "braces":
                found.append(text + following[1])
                i += 1
            else:
                found.append(text)
        elif kind == "braces":
            found.append(text)
        i += 1
    return found


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())
