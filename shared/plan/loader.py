"""Load a plan file, reporting every problem at its YAML line.

People edit the plan by hand, so an error must say where: `plans/x.yaml:42:7: targets[3].factor:
Field required`. The YAML is composed into nodes first (their marks give line and column), then
constructed into plain data and validated by the pydantic model; each validation error's
location is walked back to the nearest node that exists in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shared.plan.model import Plan

Loc = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG, _STR_TAG = "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:str"
# libyaml parses ~30x faster and keeps the same node marks; pure Python is the fallback
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class PlanIssue:
    path: str  # file:line:col
    field: str  # dotted JSON path, e.g. targets[3].factor ('' for the file as a whole)
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}" if self.field else f"{self.path}: {self.message}"


class PlanError(Exception):
    def __init__(self, errors: list[PlanIssue]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def load_plan(path: str | PathLike[str]) -> Plan:
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError([PlanIssue(name, "", f"cannot read the plan file: {exc}")]) from None

    loader = _Loader(text)
    marks: dict[Loc, yaml.Mark] = {}
    issues: list[PlanIssue] = []
    try:
        node = loader.get_single_node()
        if node is not None:
            _collect_marks(name, node, (), marks, issues, frozenset())
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise PlanError([_syntax_issue(name, exc)]) from None
    except yaml.YAMLError as exc:
        raise PlanError([PlanIssue(name, "", f"YAML: {exc}")]) from None
    finally:
        loader.dispose()

    if not isinstance(data, dict):
        where = _where(name, node.start_mark) if node is not None else f"{name}:1:1"
        message = "the plan must be a mapping of sections (code, title, year, ...)"
        raise PlanError([PlanIssue(where, "", message)])
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        issues += [_issue(name, err["loc"], _message(err["msg"]), data, marks) for err in exc.errors()]
    if issues:
        issues.sort(key=lambda i: _line_col(i.path))
        raise PlanError(issues)
    return plan


def _syntax_issue(name: str, exc: yaml.MarkedYAMLError) -> PlanIssue:
    mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
    problem = exc.problem or "invalid YAML"
    if exc.context:  # e.g. "while parsing a flow mapping", started where the context mark says
        elsewhere = context and mark and (context.line, context.column) != (mark.line, mark.column)
        at = f" (line {context.line + 1}, column {context.column + 1})" if elsewhere and context else ""
        problem = f"{exc.context}{at}: {problem}"
    return PlanIssue(_where(name, mark) if mark else name, "", f"YAML syntax: {problem}")


def _issue(name: str, loc: Loc, msg: str, data: Any, marks: dict[Loc, yaml.Mark]) -> PlanIssue:
    loc = _in_data(loc, data)
    for end in range(len(loc), -1, -1):  # a missing field points at the entry that lacks it
        if loc[:end] in marks:
            return PlanIssue(_where(name, marks[loc[:end]]), _dotted(loc), msg)
    return PlanIssue(f"{name}:1:1", _dotted(loc), msg)  # pragma: no cover - the root is always marked


def _message(msg: str) -> str:
    # pydantic prefixes the text of a ValueError raised by a validator; ours read well alone
    return msg.removeprefix("Value error, ")


def _in_data(loc: Loc, data: Any) -> Loc:
    """Keep the part of a pydantic location that names the data; drop type tags pydantic adds
    after a scalar (e.g. ('population', 'int')), but keep a missing key as the last element."""
    kept: list[str | int] = []
    for part in loc:
        if isinstance(data, dict):
            kept.append(part)
            if part not in data:
                break
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            kept.append(part)
            data = data[part]
        else:
            break
    return tuple(kept)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(name: str, mark: yaml.Mark) -> str:
    return f"{name}:{mark.line + 1}:{mark.column + 1}"


def _line_col(where: str) -> tuple[int, int]:
    parts = where.rsplit(":", 2)
    return (int(parts[1]), int(parts[2])) if len(parts) == 3 and parts[1].isdigit() else (0, 0)


def _collect_marks(
    name: str,
    node: Node,
    loc: Loc,
    marks: dict[Loc, yaml.Mark],
    issues: list[PlanIssue],
    ancestors: frozenset[int],
) -> None:
    """Map each data location to where it starts in the file: a key holding a block collection
    points at the key's line, a scalar at its value. Runs before construction, which would fold
    merge keys (<<) in: own keys win over merged ones, as in YAML. PyYAML silently keeps the
    last of two equal keys; in a hand-edited plan that hides a slip, so it is reported."""
    if id(node) in ancestors:  # a recursive alias
        return
    ancestors = ancestors | {id(node)}
    marks.setdefault(loc, node.start_mark)
    if isinstance(node, ScalarNode) and node.tag == _TIMESTAMP_TAG and not _is_date(node):
        node.tag = _STR_TAG  # 2024-02-30 would crash construction; as text, validation reports it here
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _collect_marks(name, item, (*loc, i), marks, issues, ancestors)
    elif isinstance(node, MappingNode):
        merged: list[Node] = []
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == _MERGE_TAG:
                merged += value.value if isinstance(value, SequenceNode) else [value]
            elif isinstance(key, ScalarNode):
                child = (*loc, key.value)
                if key.value in first_line:
                    message = f"duplicate key (first on line {first_line[key.value]})"
                    issues.append(PlanIssue(_where(name, key.start_mark), _dotted(child), message))
                first_line.setdefault(key.value, key.start_mark.line + 1)
                nested = isinstance(value, (MappingNode, SequenceNode))
                marks[child] = key.start_mark if nested else value.start_mark
                _collect_marks(name, value, child, marks, issues, ancestors)
        for source in merged:
            for key, value in source.value if isinstance(source, MappingNode) else ():
                if isinstance(key, ScalarNode) and key.value not in first_line:
                    _collect_marks(name, value, (*loc, key.value), marks, issues, ancestors)


def _is_date(node: ScalarNode) -> bool:
    try:
        yaml.constructor.SafeConstructor().construct_yaml_timestamp(node)
    except ValueError:
        return False
    return True
