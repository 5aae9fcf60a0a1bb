"""The two cost-aware test problems of the quality benchmark.

1. :class:`ChinchillaProblem`: a simulator of language-model pre-training loss built on
   Hoffmann et al. 2022's fitted law (their "approach 3" constants), with a learning rate
   whose optimum moves with model size and two mildly important nuisance parameters. Its
   best achievable loss at every compute level is known in closed form, so regret is exact.
2. :class:`DigitsProblem`: real training of ``examples/digits-mlp/train.py``'s MLP; its
   best achievable loss is only known empirically (the lower envelope of everything any
   method found).

Both expose the same small interface (:class:`Problem`): a search space, an
``evaluate(params, trial_seed)`` that returns the observed loss, the true loss used for
regret, and the cost, and the problem's compute range.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np

from benchmarks.common import ParamSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
DIGITS_TRAIN_PATH = REPO_ROOT / "examples" / "digits-mlp" / "train.py"


@dataclass(frozen=True)
class Evaluation:
    """One finished trial as the benchmark records it.

    Attributes:
        loss: what the optimiser is told (noisy for the simulator).
        true_loss: what regret is computed from (noise-free for the simulator; for real
            training it equals ``loss``, there being no truth beyond the measurement).
        cost: compute spent (FLOPs), also for a failed trial.
        failed: the trial failed (training diverged); ``loss`` is then NaN.
    """

    loss: float
    true_loss: float
    cost: float
    failed: bool = False


class Problem(Protocol):
    """What the quality benchmark needs from a problem."""

    @property
    def name(self) -> str:
        """Short name used in tables and file names."""
        ...

    @property
    def specs(self) -> list[ParamSpec]:
        """The search space."""
        ...

    @property
    def uninformed_loss(self) -> float:
        """The loss charged when a method has nothing at or under a compute level."""
        ...

    @property
    def cheap_center(self) -> dict[str, float]:
        """Search-center overrides at the cheap end of the cost range (a diagnostic)."""
        ...

    def evaluate(self, params: dict[str, float], trial_seed: int) -> Evaluation:
        """Run one trial."""
        ...

    def cost_range(self) -> tuple[float, float]:
        """Cheapest and dearest possible single trial."""
        ...


# --------------------------------------------------------------------------------------------
# Problem 1: Chinchilla-law simulator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChinchillaProblem:
    """Simulated pre-training loss: Chinchilla's law plus a size-dependent learning rate.

    ``loss = E + A / N^α + B / D^β + k_lr · log10(lr / lr_opt(N))²
    + k_warmup · ((warmup − warmup_opt) / 0.5)² + k_beta2 · (logit10(beta2) −
    logit10(beta2_opt))² + ε``, with ``ε ~ N(0, noise_sd²)``, cost ``6 · N · D`` FLOPs
    (the usual forward + backward estimate), and ``lr_opt(N) = lr_ref · (N / n_ref)^lr_exp``:
    a larger model wants a smaller learning rate (the exponent −0.3 is in the range
    reported for Adam-trained transformers), so a good ``lr`` at one cost is a bad one at
    another and a search has to track it. E, A, B, α, β are Hoffmann et al. 2022's fit.

    The nuisance penalties are small (≤ 0.03 anywhere in the box) and have a known optimum
    inside the box, so they reward, but do not dominate, getting them right.
    """

    name: str = "chinchilla"
    E: float = 1.69
    A: float = 406.4
    B: float = 410.7
    alpha: float = 0.34
    beta: float = 0.28
    n_min: float = 1e7
    n_max: float = 1e10
    d_min: float = 1e8
    d_max: float = 1e12
    lr_ref: float = 3e-3
    n_ref: float = 1e8
    lr_exp: float = -0.3
    k_lr: float = 0.1
    warmup_opt: float = 0.1
    k_warmup: float = 0.05
    beta2_opt: float = 0.98
    k_beta2: float = 0.005
    noise_sd: float = 0.003

    @property
    def specs(self) -> list[ParamSpec]:
        """Search space. The search center is a plausible but not optimal starting config:
        a 100M-parameter model on 2B tokens (Chinchilla's 20 tokens per parameter), lr 1e-3
        (3× under its optimum there), warmup 0.25 and beta2 0.95."""
        return [
            ParamSpec("n_params", "log", self.n_min, self.n_max, 1e8),
            ParamSpec("tokens", "log", self.d_min, self.d_max, 2e9),
            ParamSpec("lr", "log", 1e-5, 1e-1, 1e-3),
            ParamSpec("warmup", "linear", 0.0, 0.5, 0.25),
            ParamSpec("beta2", "logit", 0.5, 0.9999, 0.95),
        ]

    @property
    def uninformed_loss(self) -> float:
        """Loss of the cheapest model in the box with every other parameter optimal: what a
        method is charged at a compute level under which it has observed nothing."""
        return self.scale_loss(self.n_min, self.d_min)

    @property
    def cheap_center(self) -> dict[str, float]:
        """A 20M-parameter model on 400M tokens (5e16 FLOPs, 25× under the default center)."""
        return {"n_params": 2e7, "tokens": 4e8}

    def lr_opt(self, n_params: float) -> float:
        """Optimal learning rate of a model with ``n_params`` parameters."""
        return self.lr_ref * float((n_params / self.n_ref) ** self.lr_exp)

    def scale_loss(self, n_params: float, tokens: float) -> float:
        """The Chinchilla part: E + A/N^α + B/D^β (all other parameters optimal)."""
        return self.E + self.A / float(n_params**self.alpha) + self.B / float(tokens**self.beta)

    def true_loss(self, params: dict[str, float]) -> float:
        """Noise-free loss of a configuration."""
        n, d = params["n_params"], params["tokens"]
        lr, warmup, beta2 = params["lr"], params["warmup"], params["beta2"]
        lr_term = self.k_lr * math.log10(lr / self.lr_opt(n)) ** 2
        warmup_term = self.k_warmup * ((warmup - self.warmup_opt) / 0.5) ** 2
        beta2_term = self.k_beta2 * (_logit10(beta2) - _logit10(self.beta2_opt)) ** 2
        return self.scale_loss(n, d) + lr_term + warmup_term + beta2_term

    @staticmethod
    def cost(params: dict[str, float]) -> float:
        """Training FLOPs, 6·N·D."""
        return 6.0 * params["n_params"] * params["tokens"]

    def evaluate(self, params: dict[str, float], trial_seed: int) -> Evaluation:
        """Noisy loss (noise drawn from ``trial_seed``), exact cost."""
        true = self.true_loss(params)
        noise = float(np.random.default_rng(trial_seed).normal(0.0, self.noise_sd))
        return Evaluation(loss=true + noise, true_loss=true, cost=self.cost(params))

    def cost_range(self) -> tuple[float, float]:
        """Cheapest and dearest single trial in the box."""
        return 6.0 * self.n_min * self.d_min, 6.0 * self.n_max * self.d_max

    # ---- the analytic optimum -----------------------------------------------------------

    @property
    def n_opt_exponent(self) -> float:
        """d log N_opt / d log C = β / (α + β) (≈ 0.4516 with Hoffmann's constants)."""
        return self.beta / (self.alpha + self.beta)

    def optimal_split(self, compute: float) -> tuple[float, float]:
        """The compute-optimal (N, D) with 6·N·D = compute, clamped to the box.

        Minimising A·N^−α + B·D^−β subject to N·D = C/6: substituting D = C/(6N) and
        setting the derivative in N to zero gives α·A·N^−α = β·B·(C/6)^−β·N^β, so

            N_opt = G · (C/6)^(β/(α+β)),   G = (α·A / (β·B))^(1/(α+β)),
            D_opt = (C/6) / N_opt.

        Along the constraint the objective is convex in log N (a sum of two exponentials
        in log N), so when N_opt falls outside the N values the box allows at this compute
        ([max(N_min, C/(6·D_max)), min(N_max, C/(6·D_min))]) the clamped value is the
        constrained optimum. Compute outside [6·N_min·D_min, 6·N_max·D_max] is clamped to
        that range first (loss falls with both N and D, so the best at cost ≤ C spends
        all of C when it can).
        """
        low, high = self.cost_range()
        c6 = min(max(compute, low), high) / 6.0
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
        n_opt = g * float(c6**self.n_opt_exponent)
        n_low = max(self.n_min, c6 / self.d_max)
        n_high = min(self.n_max, c6 / self.d_min)
        n_opt = min(max(n_opt, n_low), n_high)
        return n_opt, c6 / n_opt

    def best_loss(self, compute: float) -> float:
        """Best noise-free loss of any configuration with cost ≤ ``compute`` (inf if none)."""
        if compute < self.cost_range()[0]:
            return math.inf
        n_opt, d_opt = self.optimal_split(compute)
        return self.scale_loss(n_opt, d_opt)


def _logit10(p: float) -> float:
    """log10(p / (1 − p)): the reference's logit basic space."""
    return math.log10(p / (1.0 - p))


# --------------------------------------------------------------------------------------------
# Problem 2: real training (examples/digits-mlp/train.py)
# --------------------------------------------------------------------------------------------


@cache
def load_digits_train_module() -> ModuleType:
    """Import ``examples/digits-mlp/train.py`` by path (its folder name has a hyphen)."""
    name = "digits_mlp_train"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DIGITS_TRAIN_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {DIGITS_TRAIN_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class DigitsProblem:
    """Tune the digits MLP: lr, width, epochs, weight decay; cost = analytic training FLOPs.

    Each trial trains with its own initialisation seed (``trial_seed``), as real trials
    would, so resampling a configuration sees real seed noise.
    """

    name: str = "digits"
    width_max: int = 1024
    epochs_max: int = 200

    @property
    def specs(self) -> list[ParamSpec]:
        """Search space; the center is the example study's default config."""
        return [
            ParamSpec("lr", "log", 1e-4, 1.0, 3e-3),
            ParamSpec("width", "log", 8, self.width_max, 64, is_integer=True, rounding_factor=8),
            ParamSpec("epochs", "log", 5, self.epochs_max, 30, is_integer=True),
            ParamSpec("weight_decay", "log", 1e-6, 1e-1, 1e-4),
        ]

    @property
    def uninformed_loss(self) -> float:
        """Cross-entropy of a uniform guess over 10 classes, ln 10."""
        return math.log(10.0)

    @property
    def cheap_center(self) -> dict[str, float]:
        """Width 16 for 10 epochs (1.0e8 FLOPs, 12× under the default center)."""
        return {"width": 16, "epochs": 10}

    def evaluate(self, params: dict[str, float], trial_seed: int) -> Evaluation:
        """Train once; a diverged run is a failure that still costs its FLOPs."""
        module = load_digits_train_module()
        try:
            result = module.train(
                lr=float(params["lr"]),
                width=round(params["width"]),
                epochs=round(params["epochs"]),
                weight_decay=float(params["weight_decay"]),
                seed=trial_seed,
            )
        except module.TrainingDivergedError as exc:
            return Evaluation(loss=math.nan, true_loss=math.nan, cost=exc.flops, failed=True)
        loss = float(result["val_loss"])
        return Evaluation(loss=loss, true_loss=loss, cost=float(result["flops"]))

    def cost_range(self) -> tuple[float, float]:
        """Cheapest and dearest single trial in the box."""
        module = load_digits_train_module()
        return (
            float(module.training_flops(8, 5)),
            float(module.training_flops(self.width_max, self.epochs_max)),
        )
