"""A fast stand-in for a training script (no torch), driven by its env and flags.

loss = (log10(lr) + 2)^2 + (x - 0.3)^2 + 1 / size; cost = size (reported as `flops`).
Behaviours for tests, chosen by flags: --fail-above X exits 1 when x > X; --malformed
writes a result whose objective is a string; --sleep S sleeps first. Every start is
appended to $TRIAL_LOG so tests can prove no trial ran twice.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

from carbs_operator import report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--size", type=float, required=True)
    parser.add_argument("--fail-above", type=float, default=math.inf)
    parser.add_argument("--malformed", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    log = os.environ.get("TRIAL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(os.environ["CARBS_TRIAL"] + "\n")
    time.sleep(args.sleep)
    if args.x > args.fail_above:
        print(f"x={args.x} is above {args.fail_above}", file=sys.stderr)
        return 1
    if args.malformed:
        # Written by hand, as a trial without the SDK might (the SDK itself refuses this).
        with open(os.environ["CARBS_RESULT_FILE"], "w", encoding="utf-8") as handle:
            handle.write('{"loss": "not a number", "flops": 3}')
        return 0
    loss = (math.log10(args.lr) + 2) ** 2 + (args.x - 0.3) ** 2 + 1 / args.size
    report(loss=loss, flops=args.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
