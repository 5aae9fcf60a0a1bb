"""A second real training problem for the suite: an MLP on scikit-learn's breast-cancer data.

The data (569 samples, 30 features) ships inside scikit-learn, so no download. Unlike the
digits MLP it has a depth parameter (1-4 hidden layers), so cost grows along three knobs
(depth, width, epochs) and over-training is real: with 426 training samples a large,
long-trained net over-fits, and the validation loss has an optimum inside the box at every
compute level. Cost is analytic training FLOPs (6 · parameters · samples seen), as for the
digits example: deterministic, unlike wall time on a shared machine.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn

from benchmarks.common import ParamSpec
from benchmarks.problems import Evaluation

N_FEATURES = 30


@functools.cache
def _split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Standardised features, a fixed stratified 75/25 split (the same for every trial)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0) + 1e-8
    as_x = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.long)  # noqa: E731
    return as_x(x_tr), as_y(y_tr), as_x(x_va), as_y(y_va)


def n_parameters(depth: int, width: int) -> int:
    """Weights and biases of ``depth`` hidden layers of ``width`` and a 2-way output."""
    first = N_FEATURES * width + width
    hidden = (depth - 1) * (width * width + width)
    return first + hidden + width * 2 + 2


def training_flops(depth: int, width: int, epochs: int) -> float:
    """6 · parameters · samples seen (full batch: one step per epoch)."""
    return 6.0 * n_parameters(depth, width) * _split()[0].shape[0] * epochs


def train(depth: int, width: int, epochs: int, lr: float, weight_decay: float, seed: int) -> float:
    """Full-batch AdamW; returns the validation cross-entropy (NaN if training diverged)."""
    x_tr, y_tr, x_va, y_va = _split()
    torch.manual_seed(seed)  # a per-process benchmark: the global RNG is ours to set
    layers: list[nn.Module] = []
    fan_in = N_FEATURES
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 2))
    model = nn.Sequential(*layers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(x_tr), y_tr)
        if not torch.isfinite(loss):
            return math.nan
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float(loss_fn(model(x_va), y_va))


@dataclass(frozen=True)
class BreastCancerProblem:
    """Tune depth, width, epochs, lr and weight decay of the breast-cancer MLP."""

    name: str = "cancer"
    budget: float = 5e11

    @property
    def specs(self) -> list[ParamSpec]:
        return [
            ParamSpec("depth", "linear", 1, 4, 2, is_integer=True),
            ParamSpec("width", "log", 8, 512, 64, is_integer=True, rounding_factor=8),
            ParamSpec("epochs", "log", 5, 300, 50, is_integer=True),
            ParamSpec("lr", "log", 1e-4, 1.0, 3e-3),
            ParamSpec("weight_decay", "log", 1e-6, 1e-1, 1e-4),
        ]

    @property
    def uninformed_loss(self) -> float:
        """Cross-entropy of a uniform guess over 2 classes."""
        return math.log(2.0)

    @property
    def cheap_center(self) -> dict[str, float]:
        return {"depth": 1, "width": 16, "epochs": 10}

    def evaluate(self, params: dict[str, float], trial_seed: int) -> Evaluation:
        depth, width, epochs = round(params["depth"]), round(params["width"]), round(
            params["epochs"]
        )
        cost = training_flops(depth, width, epochs)
        loss = train(depth, width, epochs, params["lr"], params["weight_decay"], trial_seed)
        if not math.isfinite(loss):
            return Evaluation(loss=math.nan, true_loss=math.nan, cost=cost, failed=True)
        return Evaluation(loss=loss, true_loss=loss, cost=cost)

    def cost_range(self) -> tuple[float, float]:
        return training_flops(1, 8, 5), training_flops(4, 512, 300)
