"""Label and field selectors, as the API server evaluates them on list, watch and deletecollection.

kmock 0.8 ignores ``labelSelector`` and ``fieldSelector``; an operator that lists "the Jobs of
this study" would then see every Job in the namespace and the tests would not notice. Only the
grammar the operator and kopf use is implemented:

- labels: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x,y)``;
- fields: ``path=value``, ``path==value``, ``path!=value`` where path is a dotted path into the
  object (``metadata.name``, ``metadata.namespace``, ``status.phase``). A real server accepts
  only a few paths per resource and answers 400 for the rest; this one accepts any path.

Terms are ANDed, as in Kubernetes. A malformed selector raises ``ValueError`` (400 upstream).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``( … )`` (set-based terms hold commas)."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def _label_term(term: str) -> Predicate:
    if match := _SET_TERM.match(term):
        key, operator, values_text = match.groups()
        values = {value.strip() for value in values_text.split(",") if value.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_TERM.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_TERM.match(term):
        negation, key = match.groups()
        if negation:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise ValueError(f"unable to parse requirement: {term!r}")


def parse_label_selector(selector: str | None) -> Predicate:
    """Return a predicate over an object's labels (a mapping) for a ``labelSelector``."""
    predicates = [_label_term(term) for term in _split_terms(selector or "")]
    return lambda labels: all(predicate(labels) for predicate in predicates)


def _field_value(obj: Mapping[str, Any], path: str) -> str | None:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parse_field_selector(selector: str | None) -> Predicate:
    """Return a predicate over a whole object for a ``fieldSelector``."""
    predicates: list[Predicate] = []
    for term in _split_terms(selector or ""):
        match = _EQ_TERM.match(term)
        if match is None:
            raise ValueError(f"invalid field selector: {term!r}")
        path, operator, expected = match.groups()

        def predicate(obj: Mapping[str, Any], path: str = path, operator: str = operator,
                      expected: str = expected) -> bool:
            actual = _field_value(obj, path) or ""
            return actual != expected if operator == "!=" else actual == expected

        predicates.append(predicate)
    return lambda obj: all(predicate(obj) for predicate in predicates)


def matches(obj: Mapping[str, Any], labels: Predicate, fields: Predicate) -> bool:
    """Whether an object satisfies both selectors."""
    metadata = obj.get("metadata") or {}
    return labels(metadata.get("labels") or {}) and fields(obj)
