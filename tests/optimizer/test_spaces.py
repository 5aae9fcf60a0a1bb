"""Param <-> basic transforms, rounding and bounds (property tests)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from carbs_optimizer import LinearSpace, LogitSpace, LogSpace, Param

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-8, max_value=1e8)
scales = st.floats(min_value=0.1, max_value=10)


@given(value=finite, scale=scales)
def test_linear_round_trip(value: float, scale: float) -> None:
    space = LinearSpace(scale=scale)
    assert space.param_from_basic(space.basic_from_param(value)) == pytest.approx(value, abs=1e-9)


@given(value=positive, scale=scales)
def test_log_round_trip(value: float, scale: float) -> None:
    space = LogSpace(scale=scale)
    assert space.param_from_basic(space.basic_from_param(value)) == pytest.approx(value, rel=1e-9)


@given(value=st.floats(min_value=1e-6, max_value=1 - 1e-6), scale=scales)
def test_logit_round_trip(value: float, scale: float) -> None:
    space = LogitSpace(scale=scale)
    assert space.param_from_basic(space.basic_from_param(value)) == pytest.approx(value, rel=1e-7)


@given(
    basic=st.lists(st.floats(min_value=-3, max_value=3), min_size=1, max_size=20),
    factor=st.integers(min_value=1, max_value=16),
    log=st.booleans(),
)
def test_integer_rounding_gives_multiples(basic: list[float], factor: int, log: bool) -> None:
    space = (
        LogSpace(min=1, max=1e6, is_integer=True, rounding_factor=factor)
        if log
        else LinearSpace(min=-1e6, max=1e6, is_integer=True, rounding_factor=factor, scale=50)
    )
    rounded = space.round_tensor_in_basic(torch.tensor(basic, dtype=torch.float64))
    for value in rounded.tolist():
        if not math.isfinite(value):  # log of a value that rounded to 0: masked by the bounds
            continue
        in_param = space.param_from_basic(value)
        assert isinstance(in_param, int)
        assert in_param % factor == 0
        # Rounding in basic space and in param space agree.
        assert space.param_from_basic(space.basic_from_param(in_param)) == in_param


def test_integer_values_are_python_ints() -> None:
    space = LogSpace(min=8, max=512, is_integer=True, rounding_factor=8)
    assert space.param_from_basic(space.basic_from_param(63.0)) == 64
    assert type(space.param_from_basic(1.7)) is int


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LinearSpace(min=1, max=1), "min must be less than max"),
        (lambda: LogSpace(min=-1, max=2), "min >= 0"),
        (lambda: LogitSpace(min=0.1, max=2), "within \\[0, 1\\]"),
        (lambda: LogitSpace(is_integer=True), "cannot be integer"),
        (lambda: LinearSpace(scale=0), "scale"),
        (lambda: LinearSpace(rounding_factor=0), "rounding_factor"),
        (lambda: Param("lr", LogSpace(min=1e-5, max=1), 2.0), "outside"),
        (lambda: Param("lr", LogSpace(), 0.0), "no finite"),
    ],
)
def test_bad_spaces_are_rejected_with_a_reason(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]
