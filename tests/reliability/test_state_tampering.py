"""The engine's JSON state, tampered with at random: refused with StateError, or loaded into
an engine whose own state round-trips. Never another exception, never a half-built engine.

tests/optimizer/test_engine_behaviour.py pins the messages of nine hand-picked tamperings;
these tests generate them: any node of a real state document replaced by arbitrary JSON,
deleted, or given an unknown key; whole documents of arbitrary JSON; every other version.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbs_optimizer import (
    CARBS,
    LinearSpace,
    LogitSpace,
    LogSpace,
    ObservationInParam,
    Param,
)
from carbs_optimizer.state import STATE_VERSION, StateError
from tests.optimizer.conftest import fast_config, toy_objective

Path = tuple[str | int, ...]


@functools.cache
def _document() -> str:
    """A real state: observations (one failure), a pending suggestion, a warm GP start."""
    engine = CARBS(fast_config(seed=3), [
        Param("p1", LogSpace(scale=1), 1e-2),
        Param("p2", LinearSpace(scale=2), 0),
        Param("p3", LogitSpace(scale=0.5), 0.5),
        Param("width", LogSpace(min=8, max=512, is_integer=True, rounding_factor=8), 64),
    ])
    for i in range(6):
        suggestion = engine.suggest().suggestion
        output, cost = toy_objective(suggestion)
        engine.observe(ObservationInParam(suggestion, output, cost, is_failure=i == 3))
    engine.suggest()
    return json.dumps(engine.to_state(), allow_nan=False)


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_document())
    return loaded


def _paths(node: Any, prefix: Path = ()) -> Iterator[Path]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


PATHS = [path for path in _paths(document()) if path]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)


def tampered(path: Path, operation: str, value: Any) -> dict[str, Any]:
    doc = document()
    parent: Any = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if operation == "replace":
        parent[last] = value
    elif operation == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last]["zz_unknown"] = value
    else:
        parent[last] = [parent[last], value]
    return doc


def assert_loads_consistently(doc: dict[str, Any]) -> None:
    """StateError, or an engine whose state is strict JSON and loads back to itself."""
    try:
        engine = CARBS.from_state(copy.deepcopy(doc))
    except StateError:
        return
    again = json.loads(json.dumps(engine.to_state(), allow_nan=False))
    assert json.loads(json.dumps(CARBS.from_state(again).to_state())) == again


@settings(max_examples=500, deadline=None)
@given(path=st.sampled_from(PATHS), operation=st.sampled_from(["replace", "delete", "extra"]),
       value=JSON)
def test_a_tampered_node_is_refused_or_loads_consistently(
    path: Path, operation: str, value: Any
) -> None:
    assert_loads_consistently(tampered(path, operation, value))


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_arbitrary_json_is_not_a_state(doc: Any) -> None:
    with pytest.raises(StateError):
        CARBS.from_state(doc)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(), st.text(), st.floats(allow_nan=False), st.none(),
                 st.lists(st.integers(), max_size=2)).filter(lambda v: v != STATE_VERSION))
def test_every_other_version_is_refused_by_name(version: Any) -> None:
    doc = document()
    doc["version"] = version
    with pytest.raises(StateError, match="version"):
        CARBS.from_state(doc)


@pytest.mark.parametrize("key", sorted(document()))
def test_a_missing_top_level_field_is_refused_naming_it(key: str) -> None:
    doc = document()
    del doc[key]
    with pytest.raises(StateError, match=key):
        CARBS.from_state(doc)


@pytest.mark.parametrize(("field", "value"), [
    ("device", {"gpu": 1}), ("device", []), ("device", 7),
    ("outstanding_suggestion_estimator", None), ("outstanding_suggestion_estimator", {}),
    ("outstanding_suggestion_estimator", True),
])
def test_a_config_value_of_the_wrong_type_is_refused(field: str, value: Any) -> None:
    """Found by the generated tampering above: these escaped as AttributeError, or loaded an
    engine that could not write its state back."""
    doc = document()
    doc["config"][field] = value
    with pytest.raises(StateError, match=field):
        CARBS.from_state(doc)
