"""The engine on CUDA beside the CPU, on a machine with a GPU (run on a lent device machine).

For each (n observations, d dimensions): median warm `suggest()` on both devices, and
whether every suggestion stays in bounds; then a 30-trial sequential search on CUDA on a
toy cost/loss problem, checking it improves on its random phase. Writes JSON to --out.

    python benchmarks/cuda_check.py --out cuda_check.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Any

import torch

from carbs_optimizer import CARBS, CARBSParams, LinearSpace, LogSpace, ObservationInParam, Param


def _params(dims: int) -> list[Param]:
    params = [Param("size", LogSpace(min=1, max=1e4), 10)]
    params += [Param(f"x{i}", LinearSpace(min=-3, max=3), 0.0) for i in range(dims - 1)]
    return params


def _objective(point: dict[str, Any]) -> tuple[float, float]:
    size = float(point["size"])
    loss = 1 / math.sqrt(size) + sum(
        (float(v) - 0.5) ** 2 for k, v in point.items() if k.startswith("x")
    )
    return loss, size


def _filled(device: str, n: int, dims: int) -> CARBS:
    engine = CARBS(CARBSParams(better_direction_sign=-1, device=device, seed=0), _params(dims))
    generator = torch.Generator().manual_seed(1)
    for _ in range(n):
        raw = torch.rand(dims, generator=generator, dtype=torch.float64).tolist()
        point: dict[str, Any] = {"size": 10 ** (raw[0] * 4)}
        point.update({f"x{i}": raw[i + 1] * 6 - 3 for i in range(dims - 1)})
        loss, cost = _objective(point)
        engine.observe(ObservationInParam(point, loss, cost))
    return engine


def latency(device: str, n: int, dims: int, repeats: int = 5) -> dict[str, Any]:
    engine = _filled(device, n, dims)
    engine.config.resample_frequency = 0
    times, in_bounds = [], True
    for i in range(repeats + 1):
        began = time.perf_counter()
        out = engine.suggest()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i:  # the first call includes the cold fit
            times.append(time.perf_counter() - began)
        for param in engine.params:
            value = out.suggestion[param.name]
            in_bounds &= param.space.min <= value <= param.space.max
        engine.forget_suggestion(out.suggestion)
    return {
        "device": device,
        "n": n,
        "d": dims,
        "median_s": statistics.median(times),
        "in_bounds": in_bounds,
    }


def search(device: str, trials: int = 30) -> dict[str, Any]:
    engine = CARBS(CARBSParams(better_direction_sign=-1, device=device, seed=0), _params(4))
    losses = []
    for _ in range(trials):
        out = engine.suggest()
        loss, cost = _objective(out.suggestion)
        losses.append(loss)
        engine.observe(ObservationInParam(out.suggestion, loss, cost))
    return {"device": device, "random_phase_best": min(losses[:4]), "best": min(losses)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "latency": [],
    }
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    for n, dims in [(100, 8), (300, 16), (1000, 8), (1000, 16)]:
        for device in devices:
            row = latency(device, n, dims)
            print(json.dumps(row), flush=True)
            report["latency"].append(row)
    report["search"] = [search(device) for device in devices]
    print(json.dumps(report["search"]), flush=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
