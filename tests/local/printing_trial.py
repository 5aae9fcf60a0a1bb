"""A training script that prints its metrics and never imports the SDK (StdOut collector).

loss = (log10(lr) + 2)^2 + (x - 0.3)^2 + 1 / size, cost `flops` = size, as quadratic_trial.py.
It prints a noisy loss per epoch that ends at the true loss, so that `latest` keeps the
true value and `min` the epoch minimum. --json prints JSON lines instead of Katib's
`name=value` text; --no-result prints nothing of use; --huge prints past the read limit.
Stdlib only: the point is that nothing of carbs is imported.
"""

from __future__ import annotations

import argparse
import json
import math
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--size", type=float, required=True)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-result", action="store_true")
    parser.add_argument("--huge", type=int, default=0, help="print this many MiB first")
    args = parser.parse_args()
    for _ in range(args.huge):
        sys.stdout.write(("." * 1023 + "\n") * 1024)
    loss = (math.log10(args.lr) + 2) ** 2 + (args.x - 0.3) ** 2 + 1 / args.size
    print("starting training", flush=True)
    if args.no_result:
        print("done, but the metric was never printed")
        return 0
    # Epoch losses: 3x, then 0.5x (the minimum), then the true loss last.
    for epoch, value in enumerate((3 * loss, 0.5 * loss, loss)):
        if args.json:
            print(json.dumps({"epoch": epoch, "phase": "val", "loss": value,
                              "flops": args.size}))
            print(json.dumps({"epoch": epoch, "grad_norm": float("nan")}))
        else:
            print(f"epoch {epoch}: loss={value!r} flops={args.size!r} grad_norm=nan "
                  f"note=ignored-word")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
