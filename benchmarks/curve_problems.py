"""Learning-curve problems for the early-stopping benchmark (``benchmarks.early_stopping``).

Each problem runs a trial as a stream of progress points (step, observed loss, cost so far),
the last of which is the trial's result, so a harness can stop it part-way and charge only
the compute it used. The simulators are the suite's Chinchilla problem seen while it trains
(its constants, noise rule and search center come from ``benchmarks.suite_problems``):

- ``chinchilla-curve``: the loss at D_seen tokens is the law's loss of a run of D_seen
  tokens (a constant learning rate, so the curve passes through what shorter runs end at),
  with noise on every point.
- ``chinchilla-cosine``: the same run under a cosine decay to its end. Until late the
  learning rate is high and the loss sits above the law by ``late_excess`` times the square
  root of the schedule's factor; only the last stretch anneals it down to the same final
  loss. A rule that compares a run mid-way with runs that had finished at that cost would
  stop every good long run.
- ``digits-curve``: the digits MLP (examples/digits-mlp/train.py's model, data and FLOP
  count), its validation loss read at evenly spaced epochs.
- ``powerlaw-floor``: the loss falls as 1/step toward a floor the parameters set, at a pace
  the learning rate sets (too low a rate falls slowly), ending at the law's loss. A partial
  curve is not a shorter run's result: a long run mid-way is far above where a run of that
  length would have ended.
- ``chinchilla-noisy``: the constant-rate curve with four times the noise on every point.
- ``step-decay``: the learning rate cut tenfold at half and at three quarters of the run:
  the loss sits on plateaus and drops twice, late, to the law's loss.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import torch

from benchmarks.common import ParamSpec
from benchmarks.problems import ChinchillaProblem, DigitsProblem, load_digits_train_module
from benchmarks.suite_problems import CHINCHILLA_BUDGET, HOFFMANN, MID, noise_for_level_gap

#: Progress points per trial (reported at evenly spaced steps; the last is the result).
POINTS_PER_TRIAL = 20
#: Tokens per optimiser step of the simulated runs (steps are what a trainer counts).
TOKENS_PER_STEP = 1e6


@dataclass(frozen=True)
class Progress:
    """One progress report; ``true_loss`` is the noise-free loss (simulators) used for
    regret; ``last`` marks the trial's result, ``failed`` a run that diverged here (its last
    report too)."""

    step: int
    loss: float
    true_loss: float
    cost: float
    last: bool = False
    failed: bool = False


class CurveProblem(Protocol):
    """What the early-stopping benchmark needs from a problem."""

    @property
    def name(self) -> str: ...

    @property
    def specs(self) -> list[ParamSpec]: ...

    @property
    def uninformed_loss(self) -> float: ...

    @property
    def budget(self) -> float:
        """The compute that sets the regret levels (as in the suite)."""
        ...

    def cost_range(self) -> tuple[float, float]: ...

    def run(self, params: dict[str, float], trial_seed: int) -> Iterator[Progress]:
        """The trial's progress, lazily: a stopped trial computes no further."""
        ...


@dataclass(frozen=True)
class OnChinchilla:
    """A curve family over the suite's Chinchilla simulator at the mid-range center: its
    parameters, costs and best losses are the simulator's, so regret stays analytic; a
    subclass says how a run's loss falls on the way to the law's."""

    name: str = "chinchilla"
    base: ChinchillaProblem = HOFFMANN
    noise_sd: float = noise_for_level_gap(HOFFMANN, CHINCHILLA_BUDGET)
    budget: float = CHINCHILLA_BUDGET

    @property
    def specs(self) -> list[ParamSpec]:
        return [replace(s, center=MID.get(s.name, s.center)) for s in self.base.specs]

    @property
    def uninformed_loss(self) -> float:
        return self.base.uninformed_loss

    def cost_range(self) -> tuple[float, float]:
        return self.base.cost_range()

    def best_loss(self, compute: float) -> float:
        """Every run ends at the law's loss, annealed or not: regret stays analytic."""
        return self.base.best_loss(compute)


@dataclass(frozen=True)
class ChinchillaCurve(OnChinchilla):
    """The suite's Chinchilla simulator reporting loss as tokens are consumed."""

    name: str = "chinchilla-curve"
    #: Extra loss of an un-annealed run at the start (0 = constant learning rate).
    late_excess: float = 0.0

    def run(self, params: dict[str, float], trial_seed: int) -> Iterator[Progress]:
        rng = np.random.default_rng(trial_seed)
        tokens = params["tokens"]
        for i in range(1, POINTS_PER_TRIAL + 1):
            fraction = i / POINTS_PER_TRIAL
            seen = {**params, "tokens": tokens * fraction}
            schedule = (1.0 + math.cos(math.pi * fraction)) / 2.0  # 1 -> 0 at the end
            true = self.base.true_loss(seen) + self.late_excess * math.sqrt(schedule)
            noisy = true + float(rng.normal(0.0, self.noise_sd))
            yield Progress(step=max(1, round(tokens * fraction / TOKENS_PER_STEP)), loss=noisy,
                           true_loss=true, cost=self.base.cost(seen),
                           last=i == POINTS_PER_TRIAL)


@dataclass(frozen=True)
class PowerLawCurve(OnChinchilla):
    """The Chinchilla simulator's final loss reached by a 1/step decay toward a floor.

    ``loss(t) = floor + amplitude · t0 / (t0 + t)`` with ``t0 = ref_steps · (lr_opt / lr)^
    lr_power`` (a learning rate under the optimum decays slowly, one over it quickly) and
    the floor set so that the last step lands on the law's loss of the full run: regret
    stays analytic, and curves of different rates cross.
    """

    name: str = "powerlaw-floor"
    amplitude: float = 1.0
    ref_steps: float = 300.0
    lr_power: float = 0.5

    def run(self, params: dict[str, float], trial_seed: int) -> Iterator[Progress]:
        rng = np.random.default_rng(trial_seed)
        tokens = params["tokens"]
        total = tokens / TOKENS_PER_STEP
        t0 = self.ref_steps * (self.base.lr_opt(params["n_params"]) / params["lr"]) ** (
            self.lr_power)
        floor = self.base.true_loss(params) - self.amplitude * t0 / (t0 + total)
        for i in range(1, POINTS_PER_TRIAL + 1):
            fraction = i / POINTS_PER_TRIAL
            last = i == POINTS_PER_TRIAL
            true = (self.base.true_loss(params) if last
                    else floor + self.amplitude * t0 / (t0 + total * fraction))
            noisy = true + float(rng.normal(0.0, self.noise_sd))
            yield Progress(step=max(1, round(total * fraction)), loss=noisy, true_loss=true,
                           cost=self.base.cost({**params, "tokens": tokens * fraction}),
                           last=last)


@dataclass(frozen=True)
class StepDecayCurve(OnChinchilla):
    """The constant-rate curve with the rate cut tenfold at ``cuts`` of the run: the loss
    sits ``plateau`` above the law's until the first cut, a third of that until the
    second, and on the law after it."""

    name: str = "step-decay"
    plateau: float = 0.25
    cuts: tuple[float, float] = (0.5, 0.75)

    def run(self, params: dict[str, float], trial_seed: int) -> Iterator[Progress]:
        rng = np.random.default_rng(trial_seed)
        tokens = params["tokens"]
        for i in range(1, POINTS_PER_TRIAL + 1):
            fraction = i / POINTS_PER_TRIAL
            seen = {**params, "tokens": tokens * fraction}
            excess = (self.plateau if fraction <= self.cuts[0] else
                      self.plateau / 3 if fraction <= self.cuts[1] else 0.0)
            true = self.base.true_loss(seen) + excess
            noisy = true + float(rng.normal(0.0, self.noise_sd))
            yield Progress(step=max(1, round(tokens * fraction / TOKENS_PER_STEP)), loss=noisy,
                           true_loss=true, cost=self.base.cost(seen),
                           last=i == POINTS_PER_TRIAL)


@dataclass(frozen=True)
class DigitsCurve:
    """The digits MLP with its validation loss read at evenly spaced epochs."""

    name: str = "digits-curve"
    base: DigitsProblem = field(default_factory=DigitsProblem)
    budget: float = 2e11

    @property
    def specs(self) -> list[ParamSpec]:
        return self.base.specs

    @property
    def uninformed_loss(self) -> float:
        return self.base.uninformed_loss

    def cost_range(self) -> tuple[float, float]:
        return self.base.cost_range()

    def run(self, params: dict[str, float], trial_seed: int) -> Iterator[Progress]:
        """train.py's model, data, optimiser and FLOP count; the loop is written out here
        only to read the validation loss on the way (train() reports it at the end)."""
        module: Any = load_digits_train_module()
        width, epochs = round(params["width"]), round(params["epochs"])
        report_at = {round(epochs * i / POINTS_PER_TRIAL) for i in range(1, POINTS_PER_TRIAL + 1)}
        x_train, y_train, x_val, y_val = module._digits_split()
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            model = module._build_model(width, torch.Generator().manual_seed(trial_seed))
            optimizer = torch.optim.AdamW(model.parameters(), lr=float(params["lr"]),
                                          weight_decay=float(params["weight_decay"]))
            loss_fn = torch.nn.CrossEntropyLoss()
            for epoch in range(1, epochs + 1):
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x_train), y_train)
                flops = float(module.training_flops(width, epoch))
                if not math.isfinite(float(loss.detach())):
                    yield Progress(epoch, math.nan, math.nan, flops, last=True, failed=True)
                    return
                loss.backward()
                optimizer.step()
                if epoch in report_at:
                    with torch.no_grad():
                        val = float(loss_fn(model(x_val), y_val))
                    failed = not math.isfinite(val)
                    yield Progress(epoch, val, val, flops, last=failed or epoch == epochs,
                                   failed=failed)
                    if failed:
                        return
        finally:
            torch.set_num_threads(previous)


def curve_problems() -> list[CurveProblem]:
    """The benchmark's problems, in the order it runs them."""
    return [
        ChinchillaCurve(),
        ChinchillaCurve(name="chinchilla-cosine", late_excess=0.3),
        DigitsCurve(),
        PowerLawCurve(),
        ChinchillaCurve(name="chinchilla-noisy",
                        noise_sd=4 * noise_for_level_gap(HOFFMANN, CHINCHILLA_BUDGET)),
        StepDecayCurve(),
    ]


def problem_by_name(name: str) -> CurveProblem:
    for problem in curve_problems():
        if problem.name == name:
            return problem
    raise KeyError(f"no learning-curve problem named {name!r}")
