"""A one-minute look at the engine: CARBS tunes a Chinchilla-law loss simulator.

`python -m carbs_optimizer.demo` runs 40 sequential trials and prints the cost/loss frontier
it found and the scaling law of model size against compute.
"""

from __future__ import annotations

import argparse
import math

from carbs_optimizer import CARBS, CARBSParams, LogSpace, ObservationInParam, Param

# Hoffmann et al. 2022's fitted constants.
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28


def simulated_loss(params: dict[str, float]) -> tuple[float, float]:
    """(loss, FLOPs) of a model with N parameters trained on D tokens at learning rate lr."""
    n, d, lr = params["n_params"], params["tokens"], params["lr"]
    lr_opt = 3e-3 * (n / 1e8) ** -0.3
    loss = E + A / n**ALPHA + B / d**BETA + 0.05 * math.log10(lr / lr_opt) ** 2
    return loss, 6.0 * n * d


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    carbs = CARBS(
        CARBSParams(better_direction_sign=-1, seed=args.seed, device="cpu"),
        [
            Param("n_params", LogSpace(min=1e7, max=1e10), 1e8),
            Param("tokens", LogSpace(min=1e8, max=1e12), 2e9),
            Param("lr", LogSpace(min=1e-5, max=1e-1), 3e-3),
        ],
    )
    for _ in range(args.trials):
        suggestion = carbs.suggest().suggestion
        loss, flops = simulated_loss(suggestion)
        carbs.observe(ObservationInParam(input=suggestion, output=loss, cost=flops))
    print(f"{'FLOPs':>10}  {'loss':>7}  {'N':>9}  {'D':>9}  {'lr':>8}")
    for group in carbs.pareto_groups(conservative=False):
        point = carbs.basic_to_param(group[0].real_number_input)
        mean_loss = sum(o.output for o in group) / len(group)
        print(
            f"{group[0].cost:10.3g}  {mean_loss:7.4f}  {point['n_params']:9.3g}  "
            f"{point['tokens']:9.3g}  {point['lr']:8.2g}"
        )
    for law in carbs.scaling_laws():
        if law.exponent is not None:
            print(f"{law.parameter}: ∝ cost^{law.exponent:.3f} (R² {law.r2:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
