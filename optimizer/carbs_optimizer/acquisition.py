"""Acquisition terms: expected improvement, search density and success probability.

Everything is computed in log space and combined by addition. The reference multiplied the
raw factors; far from the frontier EI underflows to exactly 0 for every candidate and the
argmax then picks the first candidate, i.e. an arbitrary point. Logs keep the ordering.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT_HALF_PI = math.sqrt(math.pi / 2)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def log_h(z: Tensor) -> Tensor:
    """log(φ(z) + z·Φ(z)), finite for every finite z.

    For z ≥ -1 the direct form is accurate. Below, φ(z)·(1 + z·√(π/2)·erfcx(-z/√2)) avoids
    underflow (erfcx is the scaled complementary error function); the bracket tends to 1/z²
    and is accurate to ~1e-4 relative until |z| ≈ 1e6, where the asymptote -2·log|z| takes over.
    """
    z = z.to(torch.float64)
    log_phi = -0.5 * z * z - _LOG_SQRT_2PI
    direct_z = torch.clamp(z, min=-1.0)
    direct = torch.log(
        torch.exp(-0.5 * direct_z * direct_z - _LOG_SQRT_2PI)
        + direct_z * torch.special.ndtr(direct_z)
    )
    mid_z = torch.clamp(z, min=-1e6, max=-1.0)
    bracket = 1.0 + mid_z * _SQRT_HALF_PI * torch.special.erfcx(-mid_z * _INV_SQRT2)
    mid = -0.5 * mid_z * mid_z - _LOG_SQRT_2PI + torch.log(torch.clamp(bracket, min=1e-300))
    far = log_phi - 2.0 * torch.log(torch.clamp(-z, min=1.0))
    return torch.where(z >= -1.0, direct, torch.where(z >= -1e6, mid, far))


def log_expected_improvement(
    mu: Tensor, variance: Tensor, best_mu: Tensor, exploration_bias: float
) -> Tensor:
    """log EI for maximisation with z = (μ - best - bias) / σ (σ² noiseless)."""
    sigma = torch.sqrt(torch.clamp(variance, min=1e-18))
    z = (mu - best_mu - exploration_bias) / sigma
    return torch.log(sigma) + log_h(z)


def expected_improvement(
    mu: Tensor, variance: Tensor, best_mu: Tensor, exploration_bias: float = 0.5
) -> Tensor:
    """EI = σ·(φ(z) + z·Φ(z)); the reference's signature. Non-negative and finite."""
    return torch.exp(log_expected_improvement(mu, variance, best_mu, exploration_bias))


def log_search_density(inputs: Tensor, origins: Tensor, radius: float) -> Tensor:
    """log of the search density: the 1-D Normal(0, radius) density at each candidate's
    Euclidean distance to its nearest origin (the reference's "search probability").

    inputs: m x d, origins: k x d -> m.
    """
    distance = torch.cdist(inputs, origins).min(dim=-1).values
    return -0.5 * (distance / radius) ** 2 - math.log(radius) - _LOG_SQRT_2PI


def log_success_probability(mean: Tensor, variance: Tensor) -> Tensor:
    """log P(label < 0) under N(mean, variance), for the success GP's ±1 labels.

    The reference built Normal(mean, variance), passing the variance where the standard
    deviation belongs; that over-disperses confident predictions. We use the std.
    """
    std = torch.sqrt(torch.clamp(variance, min=1e-18))
    log_p: Tensor = torch.special.log_ndtr(-mean / std)
    return log_p
