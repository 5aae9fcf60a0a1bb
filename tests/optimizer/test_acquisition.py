"""Expected improvement and the other acquisition terms."""

from __future__ import annotations

import math

import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from carbs_optimizer import expected_improvement
from carbs_optimizer.acquisition import (
    log_expected_improvement,
    log_h,
    log_search_density,
    log_success_probability,
)


def closed_form_ei(mu: float, sigma: float, best: float, bias: float) -> float:
    z = (mu - best - bias) / sigma
    pdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return sigma * (pdf + z * cdf)


@given(
    mu=st.floats(-5, 5), sigma=st.floats(0.05, 3), best=st.floats(-5, 5), bias=st.floats(0, 1)
)
def test_ei_matches_closed_form_where_it_is_representable(
    mu: float, sigma: float, best: float, bias: float
) -> None:
    # Below z = -4 the textbook form itself cancels catastrophically; compare above it.
    assume((mu - best - bias) / sigma > -4)
    as64 = {"dtype": torch.float64}
    ei = expected_improvement(
        torch.tensor([mu], **as64), torch.tensor([sigma**2], **as64), torch.tensor([best], **as64),
        bias,
    )
    expected = closed_form_ei(mu, sigma, best, bias)
    assert math.isclose(float(ei[0]), expected, rel_tol=1e-6, abs_tol=1e-300)


@given(z=st.floats(min_value=-1e12, max_value=50))
def test_log_h_is_finite_everywhere(z: float) -> None:
    assert math.isfinite(float(log_h(torch.tensor([z], dtype=torch.float64))[0]))


def test_log_ei_keeps_ordering_where_ei_underflows() -> None:
    """Far below the frontier EI is 0.0 in floating point; its log still ranks candidates."""
    mu = torch.tensor([-60.0, -50.0, -40.0], dtype=torch.float64)
    var = torch.ones(3, dtype=torch.float64)
    best = torch.zeros(3, dtype=torch.float64)
    assert float(expected_improvement(mu, var, best, 1.0).max()) < 1e-300
    log_ei = log_expected_improvement(mu, var, best, 1.0)
    assert torch.isfinite(log_ei).all()
    assert log_ei[0] < log_ei[1] < log_ei[2]


def test_log_h_is_continuous_across_its_branches() -> None:
    for edge in (-1.0, -1e6):
        below = float(log_h(torch.tensor([edge * (1 + 1e-9)], dtype=torch.float64))[0])
        above = float(log_h(torch.tensor([edge * (1 - 1e-9)], dtype=torch.float64))[0])
        assert math.isclose(below, above, rel_tol=1e-4)


def test_search_density_uses_the_nearest_origin() -> None:
    origins = torch.tensor([[0.0, 0.0], [10.0, 0.0]], dtype=torch.float64)
    points = torch.tensor([[0.3, 0.0], [9.7, 0.0]], dtype=torch.float64)
    density = log_search_density(points, origins, radius=0.3)
    assert torch.allclose(density[0], density[1])
    expected = -0.5 - math.log(0.3 * math.sqrt(2 * math.pi))  # Normal(0, 0.3) at 0.3
    assert math.isclose(float(density[0]), expected, rel_tol=1e-9)


def test_success_probability_scales_by_the_standard_deviation() -> None:
    """The reference passed the variance as the Normal's scale; we pass its square root."""
    mean = torch.tensor([-1.0], dtype=torch.float64)
    var = torch.tensor([4.0], dtype=torch.float64)
    expected = math.log(0.5 * (1 + math.erf(0.5 / math.sqrt(2))))  # Φ(1 / 2)
    assert math.isclose(float(log_success_probability(mean, var)[0]), expected, rel_tol=1e-9)
