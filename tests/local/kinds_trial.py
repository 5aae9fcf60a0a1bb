"""A trial with one parameter of every kind (tests.operator.manifest_cases.KINDS), for both
runtimes. It checks what it receives (exact choice strings, ordinal values in their own
type, stepped values on their grid, argv equal to env) and fails loudly on any mismatch.

loss is smallest at lion / gelu / batch 128 / base / ratio 1 / dropout 0.2 / lr 3e-3 /
shift 5 / warmup 200 / decay 1e-3 / keep 0.7 / mix 0.4; cost grows with batch and size.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

CHOICES = {"optimizer": {"adam": 0.6, "sgd": 1.0, "lion": 0.0},
           "activation": {"relu": 0.3, "gelu": 0.0}}
SIZES = {"small": 0.4, "base": 0.0, "large": 0.2}


def problems(params: dict[str, Any]) -> list[str]:
    """What is wrong with the values a trial got; [] when each fits its declared kind."""
    out = [f"{name}={params.get(name)!r} is not a choice"
           for name, choices in CHOICES.items() if params.get(name) not in choices]
    if not (isinstance(params.get("batch"), int) and params["batch"] in (32, 64, 128, 256)):
        out.append(f"batch={params.get('batch')!r} is not an int ordinal value")
    if params.get("size") not in SIZES:
        out.append(f"size={params.get('size')!r} is not a string ordinal value")
    if params.get("ratio") not in (0.5, 1, 2.5) or isinstance(params.get("ratio"), str):
        out.append(f"ratio={params.get('ratio')!r} is not a numeric ordinal value")
    drop = params.get("drop_rate")
    if not (isinstance(drop, int | float) and 0 <= drop <= 0.5 and abs(drop * 20 - round(drop * 20))
            < 1e-9 and drop == round(drop, 2)):
        out.append(f"drop_rate={drop!r} is not on its 0.05 grid")
    lr = params.get("step_lr")
    if not (isinstance(lr, int | float) and 1e-4 <= lr <= 0.1 and abs(lr * 1e4 - round(lr * 1e4))
            < 1e-6):
        out.append(f"step_lr={lr!r} is not a multiple of 1e-4")
    if not (isinstance(params.get("warmup"), int) and params["warmup"] >= 0):
        out.append(f"warmup={params.get('warmup')!r} is not a whole number >= 0")
    if not 0 < params.get("decay", -1) <= 1e-2:
        out.append(f"decay={params.get('decay')!r} is outside (0, 0.01]")
    if not 0 < params.get("keep", -1) < 1:
        out.append(f"keep={params.get('keep')!r} is outside (0, 1)")
    if not 0.1 <= params.get("mix", -1) < 1:
        out.append(f"mix={params.get('mix')!r} is outside [0.1, 1)")
    return out


def loss(params: dict[str, Any]) -> dict[str, float]:
    """The result a trial reports: `loss` to minimize and its `cost`."""
    value = (
        CHOICES["optimizer"][params["optimizer"]] + CHOICES["activation"][params["activation"]]
        + 0.1 * abs(math.log2(params["batch"]) - 7) + SIZES[params["size"]]
        + abs(params["ratio"] - 1) + (params["drop_rate"] - 0.2) ** 2
        + 0.1 * (math.log10(params["step_lr"]) + 2.5) ** 2 + 0.01 * (params["shift"] - 5) ** 2
        + abs(params["warmup"] - 200) / 1000 + 0.1 * (math.log10(params["decay"]) + 3) ** 2
        + (params["keep"] - 0.7) ** 2 + (params["mix"] - 0.4) ** 2
    )
    cost = params["batch"] * {"small": 1, "base": 2, "large": 4}[params["size"]]
    return {"loss": value, "cost": float(cost)}


def main() -> int:
    params = json.loads(os.environ["CARBS_PARAMS"])
    argv = dict(arg.removeprefix("--").split("=", 1) for arg in sys.argv[1:])
    found = problems(params)
    for name, text in argv.items():  # ${params.x} in argv is the env's exact text
        if text != os.environ[f"CARBS_PARAM_{name.upper()}"]:
            found.append(f"--{name}={text} differs from CARBS_PARAM_{name.upper()}")
    if found:
        print("; ".join(found), file=sys.stderr)
        return 1
    from carbs_operator import report

    report(loss(params))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
