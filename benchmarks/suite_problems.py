"""The problems of the search-quality suite (``benchmarks.suite``): named, seeded, cost-aware.

Every entry is a :class:`SuiteEntry`: a problem, the compute budget and trial cap that every
method gets, and a search center. The same simulator appears with its center at the cheap
end and at mid-range, because a searcher that only works from one of them is not one a user
can trust with a center they guessed.

Simulators (exact regret: their best loss at every compute level is known):

- Chinchilla-style pre-training loss with three published constant sets (Hoffmann et al.
  2022; Besiroglu et al. 2024's replication; Muennighoff et al. 2023's data-constrained fit),
  each with its own learning-rate rule: in two of them the best learning rate falls as the
  model grows, in the third it does not move.
- A noisy variant (noise sd half the median loss gap between adjacent regret levels).
- A high-dimensional variant: 14 parameters, 9 of them nuisance (3 weak, 6 inert).
- An integer-heavy variant: layers and width (rounded to 64) instead of a parameter count.

Real training (empirical regret, against the lower envelope of all methods and seeds): the
digits MLP (examples/digits-mlp) from two centers, and an MLP on scikit-learn's breast-cancer
data with a depth parameter (``benchmarks.real_problems``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from benchmarks.common import ParamSpec
from benchmarks.problems import ChinchillaProblem, DigitsProblem, Evaluation, Problem
from benchmarks.real_problems import BreastCancerProblem

#: Every method's trial cap per run (a run also ends when its compute budget is spent).
MAX_TRIALS = 60


@dataclass(frozen=True)
class Centered:
    """A problem seen with other search centers and another name; everything else as is."""

    inner: Any
    name: str
    centers: dict[str, float]

    @property
    def specs(self) -> list[ParamSpec]:
        return [replace(s, center=self.centers.get(s.name, s.center)) for s in self.inner.specs]

    @property
    def uninformed_loss(self) -> float:
        return float(self.inner.uninformed_loss)

    @property
    def cheap_center(self) -> dict[str, float]:
        return dict(self.inner.cheap_center)

    def evaluate(self, params: dict[str, float], trial_seed: int) -> Evaluation:
        result: Evaluation = self.inner.evaluate(params, trial_seed)
        return result

    def cost_range(self) -> tuple[float, float]:
        low, high = self.inner.cost_range()
        return float(low), float(high)

    def __getattr__(self, item: str) -> Any:
        # best_loss, n_opt_exponent, lr_exp... of the simulators, when the inner has them.
        if item == "inner":
            raise AttributeError(item)
        return getattr(self.inner, item)


@dataclass(frozen=True)
class NuisanceChinchilla:
    """Chinchilla plus nuisance parameters: ``weak`` of them add a small bowl (≤ 0.01 in the
    box, optimum inside), the rest do nothing. Most real search spaces look like this."""

    base: ChinchillaProblem
    name: str = "chinchilla-highdim"
    weak: int = 3
    inert: int = 6
    k_weak: float = 0.01

    def _nuisance(self) -> list[ParamSpec]:
        kinds = ["linear", "log", "logit"]
        out: list[ParamSpec] = []
        for i in range(self.weak + self.inert):
            kind = kinds[i % 3]
            if kind == "linear":
                out.append(ParamSpec(f"x{i}", "linear", 0.0, 1.0, 0.5))
            elif kind == "log":
                out.append(ParamSpec(f"x{i}", "log", 1e-4, 1.0, 1e-2))
            else:
                out.append(ParamSpec(f"x{i}", "logit", 0.01, 0.99, 0.5))
        return out

    @property
    def specs(self) -> list[ParamSpec]:
        return self.base.specs + self._nuisance()

    @property
    def uninformed_loss(self) -> float:
        return self.base.uninformed_loss

    @property
    def cheap_center(self) -> dict[str, float]:
        return self.base.cheap_center

    def penalty(self, params: dict[str, float]) -> float:
        """The weak nuisances' bowl: optimum at 30% of each one's basic range."""
        total = 0.0
        for spec in self._nuisance()[: self.weak]:
            low, high = spec.to_basic(spec.min), spec.to_basic(spec.max)
            u = (spec.to_basic(params[spec.name]) - low) / (high - low)
            total += self.k_weak * (u - 0.3) ** 2 / 0.49
        return total

    def evaluate(self, params: dict[str, float], trial_seed: int) -> Evaluation:
        inner = self.base.evaluate(params, trial_seed)
        extra = self.penalty(params)
        return Evaluation(inner.loss + extra, inner.true_loss + extra, inner.cost)

    def cost_range(self) -> tuple[float, float]:
        return self.base.cost_range()

    def best_loss(self, compute: float) -> float:
        return self.base.best_loss(compute)

    @property
    def n_opt_exponent(self) -> float:
        return self.base.n_opt_exponent


@dataclass(frozen=True)
class LayersWidthChinchilla:
    """Chinchilla's law over N = 12 · layers · width² (a transformer's non-embedding count):
    layers is an integer, width a log integer rounded to 64. Many (layers, width) pairs give
    the same N, and rounding makes the cost surface a staircase."""

    base: ChinchillaProblem = field(default_factory=ChinchillaProblem)
    name: str = "chinchilla-integer"

    @property
    def specs(self) -> list[ParamSpec]:
        return [
            ParamSpec("layers", "linear", 2, 48, 12, is_integer=True),
            ParamSpec("width", "log", 128, 8192, 1024, is_integer=True, rounding_factor=64),
            ParamSpec("tokens", "log", 1e8, 1e12, 1e10),
            ParamSpec("lr", "log", 1e-5, 1e-1, 1e-3),
            ParamSpec("warmup", "linear", 0.0, 0.5, 0.25),
        ]

    @staticmethod
    def n_params(params: dict[str, float]) -> float:
        return 12.0 * params["layers"] * params["width"] ** 2

    def _base_params(self, params: dict[str, float]) -> dict[str, float]:
        return {
            "n_params": self.n_params(params), "tokens": params["tokens"], "lr": params["lr"],
            "warmup": params["warmup"], "beta2": self.base.beta2_opt,
        }

    @property
    def uninformed_loss(self) -> float:
        return self.base.scale_loss(12.0 * 2 * 128**2, 1e8)

    @property
    def cheap_center(self) -> dict[str, float]:
        return {"layers": 4, "width": 256, "tokens": 4e8}

    def evaluate(self, params: dict[str, float], trial_seed: int) -> Evaluation:
        return self.base.evaluate(self._base_params(params), trial_seed)

    def cost_range(self) -> tuple[float, float]:
        return 6.0 * 12 * 2 * 128**2 * 1e8, 6.0 * 12 * 48 * 8192**2 * 1e12

    def best_loss(self, compute: float) -> float:
        """The continuous optimum (a lower bound: rounding can only do as well or worse)."""
        low, _ = self.cost_range()
        if compute < low:
            return math.inf
        return self.base.best_loss(compute)


@dataclass(frozen=True)
class SuiteEntry:
    """One named problem of the suite with the budget every method gets."""

    name: str
    problem: Problem
    budget: float
    max_trials: int = MAX_TRIALS
    note: str = ""


#: The three constant sets (E, A, B, α, β) and a learning-rate rule for each.
HOFFMANN = ChinchillaProblem(name="hoffmann")
BESIROGLU = ChinchillaProblem(
    name="besiroglu", E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658,
    lr_ref=2e-3, lr_exp=-0.2,
)
MUENNIGHOFF = ChinchillaProblem(
    name="muennighoff", E=1.87, A=521.0, B=1488.0, alpha=0.353, beta=0.353,
    lr_ref=1e-3, lr_exp=0.0,
)
#: Centers: the cheap end (5e16 FLOPs, under every regret level) and mid-range (3e19 FLOPs,
#: the geometric middle of the regret levels).
CHEAP = {"n_params": 2e7, "tokens": 4e8}
MID = {"n_params": 5e8, "tokens": 1e10}
CHINCHILLA_BUDGET = 1e22


def noise_for_level_gap(problem: ChinchillaProblem, budget: float) -> float:
    """Half the median loss gap between adjacent regret levels: noise comparable to the
    differences a frontier has to resolve."""
    high = budget * 0.1
    levels = np.geomspace(high / 1e3, high, 10)
    best = np.array([problem.best_loss(float(c)) for c in levels])
    return float(np.median(-np.diff(best))) / 2.0


def suite_entries() -> list[SuiteEntry]:
    """The suite, in the order it runs (simulators first: they are cheap to evaluate)."""
    entries: list[SuiteEntry] = []
    for base in (HOFFMANN, BESIROGLU, MUENNIGHOFF):
        for label, centers in (("cheap", CHEAP), ("mid", MID)):
            name = f"{base.name}-{label}"
            entries.append(
                SuiteEntry(name, Centered(base, name, centers), CHINCHILLA_BUDGET)
            )
    noisy = replace(HOFFMANN, name="noisy", noise_sd=noise_for_level_gap(HOFFMANN, 1e22))
    entries.append(
        SuiteEntry("noisy-mid", Centered(noisy, "noisy-mid", MID), CHINCHILLA_BUDGET,
                   note=f"noise sd {noisy.noise_sd:.3f}")
    )
    highdim = NuisanceChinchilla(BESIROGLU)
    entries.append(
        SuiteEntry("highdim-mid", Centered(highdim, "highdim-mid", MID), CHINCHILLA_BUDGET,
                   note="14 parameters, 9 nuisance")
    )
    integer = LayersWidthChinchilla(BESIROGLU)
    entries.append(
        SuiteEntry("integer-mid", Centered(integer, "integer-mid", {}), CHINCHILLA_BUDGET,
                   note="layers x width (rounded to 64)")
    )
    digits = DigitsProblem()
    entries.append(SuiteEntry("digits-mid", Centered(digits, "digits-mid", {}), 2e11))
    entries.append(
        SuiteEntry("digits-cheap", Centered(digits, "digits-cheap", digits.cheap_center), 2e11)
    )
    cancer = BreastCancerProblem()
    entries.append(SuiteEntry("cancer-mid", Centered(cancer, "cancer-mid", {}), cancer.budget))
    return entries


def entry_by_name(name: str) -> SuiteEntry:
    for entry in suite_entries():
        if entry.name == name:
            return entry
    raise KeyError(f"no suite problem named {name!r}")
