"""A training loop for the emulator's real-process trials (no torch): it reports progress
each step with the real SDK (carbs_operator.report_progress) and its result as a JSON line
(the StdOut collector's format JSON). On SIGTERM, as a deleted pod's container gets, it
"saves a checkpoint" (prints that it did) and exits 143.

loss at step s = (log10(lr) + 2)^2 + (x - 0.3)^2 + 1/size + 2 / (s + 1), falling to the
quadratic objective of tests/k8s/conftest.py; the cost metric is size x (s + 1) / steps.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from types import FrameType

from carbs_operator import report_progress


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("lr", "x", "size"):
        parser.add_argument(f"--{name}", type=float, required=True)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--step-seconds", type=float, default=0.15)
    args = parser.parse_args()
    final = (math.log10(args.lr) + 2) ** 2 + (args.x - 0.3) ** 2 + 1 / args.size
    step = -1

    def on_term(signum: int, frame: FrameType | None) -> None:
        print(f"SIGTERM at step {step}: checkpoint saved", flush=True)
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    for step in range(args.steps):
        time.sleep(args.step_seconds)
        report_progress(step, loss=final + 2.0 / (step + 1),
                        cost=args.size * (step + 1) / args.steps)
    print(json.dumps({"loss": final, "cost": args.size}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
