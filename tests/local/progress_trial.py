"""A fast stand-in for a training loop that reports progress (no torch).

loss at step s = 20 * (q - 0.3)^2 + 1 / (s + 1); `flops` so far = s + 1 (the cost metric);
the final result is the last step's. A q far from 0.3 is plainly bad from the first steps:
the configurations an early-stopping rule should stop.

Behaviours for tests, chosen by flags: --fail-above X exits 1 when q > X; --on-term S
(on SIGTERM, note it in $TRIAL_LOG, then take S seconds "saving a checkpoint" and exit 0);
--ignore-term (SIGTERM does nothing: only SIGKILL ends it); --malformed (also print broken
progress lines); --flood MB (print that many megabytes of progress lines at once);
--silent-after K (report no progress after step K, but keep training). Every start is
appended to $TRIAL_LOG as `start <trial>`, every SIGTERM as `term <trial>`.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from types import FrameType

from carbs_operator import report, report_progress


def note(what: str) -> None:
    log = os.environ.get("TRIAL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{what} {os.environ['CARBS_TRIAL']}\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--q", type=float, required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--step-seconds", type=float, default=0.1)
    parser.add_argument("--fail-above", type=float, default=math.inf)
    parser.add_argument("--on-term", type=float, default=0.0)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--malformed", action="store_true")
    parser.add_argument("--flood", type=float, default=0.0)
    parser.add_argument("--silent-after", type=int, default=None)
    args = parser.parse_args()
    note("start")

    terminated: list[int] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        note("term")
        terminated.append(signum)
        if args.ignore_term:
            return
        time.sleep(args.on_term)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    if args.q > args.fail_above:
        print(f"q={args.q} is above {args.fail_above}", file=sys.stderr)
        return 1
    base = 20 * (args.q - 0.3) ** 2
    loss = base + 1.0
    if args.flood:
        line = 'CARBS_PROGRESS {"step": 0, "loss": 99.0, "flops": 0.5}\n'
        sys.stdout.write(line * int(args.flood * 1024 * 1024 / len(line)))
        sys.stdout.flush()
    for step in range(args.steps):
        time.sleep(args.step_seconds)
        loss = base + 1.0 / (step + 1)
        if args.malformed:
            print("CARBS_PROGRESS {not json", flush=True)
            print('CARBS_PROGRESS {"step": "one", "loss": 1}', flush=True)
        if args.silent_after is None or step <= args.silent_after:
            report_progress(step, loss=loss, flops=float(step + 1))
    while terminated and args.ignore_term:  # only SIGKILL ends it, even past its last step
        time.sleep(1.0)
    report(loss=loss, flops=float(args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
