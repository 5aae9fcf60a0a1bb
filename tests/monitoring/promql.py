"""What a PromQL expression asks of the metrics, for checking it against the exposition.

The walk is over promql_parser's AST (the Rust parser's), so a query that does not parse
fails here; an AST node this walk does not know fails too, rather than being skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import promql_parser as pp

# The dashboard's template variables ($namespace), and its label_values() variable queries.
VARIABLE = re.compile(r"\$(\w+)")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")
# Labels Prometheus itself puts on every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
# Label functions whose destination label (second argument) is new.
_LABEL_WRITERS = frozenset({"label_join", "label_replace"})


def expand(expr: str, **values: str) -> str:
    """Substitute the dashboard's variables as Grafana does (every variable must be given)."""
    return VARIABLE.sub(lambda m: values[m.group(1)], expr)


@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]]  # (label, op, value), __name__ left out


@dataclass
class Usage:
    selectors: list[Selector] = field(default_factory=list)
    grouping: list[tuple[str, ...]] = field(default_factory=list)  # by (...), on (...)
    created: set[str] = field(default_factory=set)  # labels written by label_join/replace


def _selector(node: pp.VectorSelector) -> Selector:
    # MatchOp values compare equal but are not hashable, hence a list, not a dict.
    ops = [(pp.MatchOp.Equal, "Equal"), (pp.MatchOp.NotEqual, "NotEqual"),
           (pp.MatchOp.Re, "Re"), (pp.MatchOp.NotRe, "NotRe")]
    matchers = [(m.name, next(name for op, name in ops if m.op == op), m.value)
                for m in node.matchers.matchers]
    name = node.name or next((v for label, _, v in matchers if label == "__name__"), None)
    assert name, f"selector without a metric name: {node}"
    return Selector(name, [m for m in matchers if m[0] != "__name__"])


def _walk(node: object, usage: Usage) -> None:
    if isinstance(node, pp.VectorSelector):
        usage.selectors.append(_selector(node))
    elif isinstance(node, pp.MatrixSelector):
        usage.selectors.append(_selector(node.vector_selector))
    elif isinstance(node, pp.Call):
        if node.func.name in _LABEL_WRITERS:
            usage.created.add(node.args[1].val)
        for arg in node.args:
            _walk(arg, usage)
    elif isinstance(node, pp.AggregateExpr):
        if node.modifier is not None:
            usage.grouping.append(tuple(node.modifier.labels))
        _walk(node.expr, usage)
        if node.param is not None:
            _walk(node.param, usage)
    elif isinstance(node, pp.BinaryExpr):
        if node.modifier is not None and node.modifier.matching is not None:
            usage.grouping.append(tuple(node.modifier.matching.labels))
        _walk(node.lhs, usage)
        _walk(node.rhs, usage)
    elif isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        _walk(node.expr, usage)
    elif not isinstance(node, pp.NumberLiteral | pp.StringLiteral):
        raise TypeError(f"unexpected PromQL node {type(node).__name__}: {node}")


def usage(expr: str) -> Usage:
    """Parse `expr` (raises on a syntax error) and collect what it selects and groups by."""
    found = Usage()
    _walk(pp.parse(expr), found)
    return found


Exposition = dict[str, list[dict[str, str]]]  # sample name -> the label sets it has


def problems(
    expr: str, exposition: Exposition, synthetic: frozenset[str] = frozenset()
) -> list[str]:
    """Everything in `expr` the exposition cannot satisfy: unknown metrics, labels a metric
    does not have, literal label values no sample has (a typo like outcome="fail"), and
    grouping labels none of the selected series carry. `synthetic` names metrics that
    Prometheus makes itself (up)."""
    found = usage(expr)
    errors: list[str] = []
    available = set(TARGET_LABELS) | found.created
    for selector in found.selectors:
        if selector.metric in synthetic:
            available |= {label for label, _, _ in selector.matchers}
            continue
        samples = exposition.get(selector.metric)
        if samples is None:
            errors.append(f"{selector.metric}: not in the exposition")
            continue
        keys = {key for sample in samples for key in sample}
        available |= keys
        for label, op, value in selector.matchers:
            if label not in keys:
                errors.append(f"{selector.metric}: has no label {label!r}")
                continue
            values = {sample.get(label) for sample in samples}
            literal = [value] if op == "Equal" else (
                value.split("|") if op == "Re" and re.fullmatch(r"[\w.|-]+", value) else [])
            errors += [f"{selector.metric}: no sample has {label}={v!r}"
                       for v in literal if v not in values]
    for labels in found.grouping:
        errors += [f"grouping by {label!r}, which no selected series has"
                   for label in labels if label not in available]
    return errors
