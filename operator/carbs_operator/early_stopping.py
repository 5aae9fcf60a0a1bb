"""Early-stopping rules: pure functions of one running trial's learning curve and its peers.

Both runtimes (the local runner and the operator) call `rule_verdict()` on each poll of a running
trial and stop the trial when it returns a decision. Nothing here does I/O.

The contract both runtimes rely on:
- `CurvePoint(step, objective, cost)`: one progress point; `objective` is the study's
  objective metric as reported (its direction is given separately), `cost` the trial's cost
  so far in the study's cost unit, None when the runtime cannot know it.
- `Peer(curve, objective, cost)`: another trial of the study; `objective`/`cost` are its final
  result when it succeeded, None otherwise (still running, stopped, failed).
- `rule_verdict(settings, direction, curve, predicted_cost, peers) -> StopDecision | None`.

Everything is computed on "badness" (the objective, negated when maximizing), so each rule is
written once. A trial is judged by its best value so far, never its latest: a noise spike up
must not stop it, and a peer is read the same way at the point it is compared at. A trial is
stopped only when the rule holds at each of its last `CONFIRM_POINTS` progress points (past
the grace point): one unlucky report stops nothing. `rule_verdict()` keeps no state, so the
confirmation is read from the curve, not remembered across polls.

Frontier compares like with like: a peer is read at the same fraction of its own run as the
trial is of its predicted cost (made lenient by PREDICTION_SLACK for a cost predicted too
low), so a run whose loss falls late (cosine decay to the end) is held against other runs at
the same stage, never against runs that had finished annealing at that cost. The reference
is a 30%-quantile line fitted locally in log cost (what a good run of the study reaches
there, not its single best). A trial cheaper than every peer, or without peers near its
cost, is never stopped: it is the study's only word on that cost. Without a cost on the
trial's points or a predicted cost, Frontier never stops.

Median is Katib's rule: the trial's best so far against the median of the finished peers'
best so far at the same step (each peer's last point at or below it), among peers that
reached that step. It is not cost-aware: where trials differ in size, it stops the small
ones (benchmarks/README.md measures what that does to a cost-aware study).

The margin is settings.margin times the interquartile range of the finished peers' results,
so it is unit-free, and at least NOISE_MARGIN times the noise of one progress point, read
off the finished peers' curves: on a study whose reports are noisy, a trial is stopped only
when it is worse by more than the noise can make it look. How far a trial's predicted cost
may fall short (the slack above) is read from the finished peers too, their actual against
their predicted cost, once enough of them had a prediction: the rule adapts to the study's
noise and to how well its costs are predicted instead of to constants tuned on a benchmark.
Defaults and constants were chosen on benchmarks/early_stopping.py. PROJECTED, GAIN_MARGIN,
STAGE_PROTECT_DEAREST and PROTECT_CHEAPEST are alternatives measured there and left off:
replayed on the benchmark's unstopped studies, each saved less compute than the default for
the regret it spared, and PROJECTED (stop only a trial that could not beat the best finished
result costing no more) stopped almost nothing.

What the engine learns from a stopped trial is replay.StoppedFeedback's business (a
censored observation at its predicted cost), not this module's.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from carbs_operator.models import Direction
from carbs_operator.models.early_stopping import EarlyStopping, StoppingRule

# The rule must hold at this many of the trial's latest progress points to stop it.
CONFIRM_POINTS = 2
# The quantile of the peers that the Frontier fit follows: a good run of the study, not the
# single best one (which is often luck).
FRONTIER_QUANTILE = 0.3
# Peers used in one Frontier fit at most (evenly chosen): bounds the cost of a poll.
MAX_FIT_POINTS = 256
# The Frontier fit's kernel width in log cost (natural log: 1.5 is a factor of 4.5) and the
# kernel mass (peers near the trial's cost) it needs to say anything.
FRONTIER_BANDWIDTH = 1.5
FRONTIER_SUPPORT = 2.0
# Peers are read at the trial's fraction of its predicted cost divided by 1 + this: a trial
# whose cost was predicted too low must not be held to peers further into their runs (with
# a schedule that anneals late, they would be far ahead).
PREDICTION_SLACK = 0.5
# With at least SLACK_PEERS finished peers whose cost was predicted, the slack is read from
# them instead (ADAPTIVE_SLACK on): the upper quartile of their actual / predicted cost,
# less 1, and at least MIN_SLACK. A study whose predictions run 30% low gets the slack it
# needs; one predicted well is no longer read at two thirds of the trial's stage.
SLACK_PEERS = 5
SLACK_QUANTILE = 0.75
MIN_SLACK = 0.0
ADAPTIVE_SLACK = 1.0
# The margin is at least this many times the noise of one progress point, estimated from
# the finished peers' curves: a trial must be worse by more than a noisy report can make
# it look.
NOISE_MARGIN = 1.0
# When set, Frontier never stops a trial predicted to cost less than every finished peer
# (off: what benchmarks/README.md's issue-23 table measured; under evaluation there).
PROTECT_CHEAPEST = 0.0
# When set, Frontier asks the question the engine is then told the answer to (a stopped
# trial is a censored "it would not have beaten the frontier here"): could the trial, run to
# its end, still beat the study's best finished result costing no more than it is predicted
# to cost? Its best so far, less what its peers still gained from the same stage of their
# runs to their ends (PROJECTION_QUANTILE of those gains, peers weighted by closeness in
# final cost), is held to that best. Off: the stage comparison with the 30%-quantile line.
PROJECTED = 0.0
PROJECTION_QUANTILE = 0.9
# With PROJECTED, a trial predicted dearer than every finished peer is never stopped: no
# finished trial at its cost can say it would lose (it is the study's word on that cost).
PROTECT_DEAREST = 1.0
# When set, the stage comparison's margin also holds the spread of what the peers near the
# trial's cost still gained from that stage to their ends (their GAIN_UPPER quantile less
# their median, kernel-weighted like the fit): the uncertainty of reading a partial run,
# which shrinks as the trial and its evidence progress, so a trial is stopped later in its
# run where peers' curves fan out and earlier where they run alike. STAGE_PROTECT_DEAREST
# does for the stage comparison what PROTECT_DEAREST does for the projected one.
GAIN_MARGIN = 0.0
GAIN_UPPER = 0.9
STAGE_PROTECT_DEAREST = 0.0
_IRLS_ITERATIONS = 40


@dataclass(frozen=True, slots=True)
class CurvePoint:
    step: int
    objective: float
    cost: float | None = None


@dataclass(frozen=True)
class Peer:
    curve: Sequence[CurvePoint]
    objective: float | None = None
    cost: float | None = None
    predicted_cost: float | None = None


@dataclass(frozen=True)
class StopDecision:
    """Why and where a trial was stopped; `reason` is a sentence for its status."""

    reason: str
    step: int
    objective: float
    cost: float | None


class _Point(NamedTuple):
    """A progress point in badness (lower is better), with the best badness so far."""

    step: int
    best: float
    cost: float | None


@dataclass(frozen=True)
class _Finished:
    """A succeeded peer: its curve by step as parallel lists (steps, best badness so far,
    cost so far; plain lists because every peer is read on every poll), and its final
    badness and cost."""

    steps: list[int]
    best: list[float]
    costs: list[float | None]
    badness: float
    cost: float | None
    noise: float | None = None
    overrun: float | None = None


def rule_verdict(settings: EarlyStopping, direction: Direction, curve: Sequence[CurvePoint],
           predicted_cost: float | None, peers: Sequence[Peer], *,
           metric: str = "objective") -> StopDecision | None:
    """Stop the trial now (a decision) or let it run (None).

    `metric` only names the objective in the reason sentence.
    """
    sign = 1.0 if direction == Direction.MINIMIZE else -1.0
    points = _points(curve, sign)
    if not points:
        return None
    finished = [f for f in (_finished(peer, sign) for peer in peers) if f is not None]
    if len(finished) < settings.min_trials:
        return None
    spread = _spread([f.badness for f in finished])
    predicted = predicted_cost if _positive(predicted_cost) else None
    grace = _grace_check(settings.grace_fraction, predicted, finished)
    recent = [p for p in points[-CONFIRM_POINTS:] if grace(p)]
    if len(recent) < CONFIRM_POINTS:
        return None
    last_raw = _last_finite(curve)
    if settings.rule == StoppingRule.MEDIAN:
        verdicts = [_median_verdict(p, finished, settings.min_trials) for p in recent]
    else:
        if predicted is None:
            return None
        slack = _slack(finished)
        verdict = _projected_verdict if PROJECTED else _frontier_verdict
        verdicts = [verdict(p, predicted, finished, slack) for p in recent]
    margin = max(settings.margin * spread, NOISE_MARGIN * _noise(finished))
    confirmed = [(p, v) for p, v in zip(recent, verdicts, strict=True)
                 if v is not None and p.best > v[0] + margin]
    if len(confirmed) < len(recent):
        return None
    point, (reference, peers_used) = confirmed[-1]
    if settings.rule != StoppingRule.MEDIAN and PROJECTED and predicted is not None:
        reason = _projected_reason(metric, sign, point, reference, margin, peers_used,
                                   predicted, finished)
    else:
        reason = _reason(settings.rule, metric, sign, point, reference, margin, peers_used)
    return StopDecision(reason=reason, step=last_raw.step, objective=last_raw.objective,
                        cost=last_raw.cost if _finite(last_raw.cost) else None)


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def _positive(value: float | None) -> bool:
    return _finite(value) and value is not None and value > 0


def _last_finite(curve: Sequence[CurvePoint]) -> CurvePoint:
    return max((p for p in curve if _finite(p.objective)), key=lambda p: p.step)


def _curve(curve: Sequence[CurvePoint], sign: float
           ) -> tuple[list[int], list[float], list[float | None]]:
    """Steps, best badness so far and cost of the finite points, by step; garbage is dropped
    (a non-finite objective, a negative step; a non-finite or negative cost made None).
    Written for speed: it runs over every point of every peer on every poll."""
    valid: list[tuple[int, float, float | None]] = []
    ordered, previous = True, -1
    for p in curve:
        objective, step, cost = p.objective, p.step, p.cost
        if (not isinstance(objective, int | float) or not math.isfinite(objective)
                or not isinstance(step, int) or step < 0):
            continue
        if cost is not None and not (isinstance(cost, int | float) and 0 <= cost < math.inf):
            cost = None
        ordered = ordered and step >= previous
        previous = step
        valid.append((step, sign * objective, cost))
    if not ordered:
        valid.sort(key=lambda v: v[0])
    steps, bests, costs = [], [], []
    best = math.inf
    for step, badness, cost in valid:
        if badness < best:
            best = badness
        steps.append(step)
        bests.append(best)
        costs.append(cost)
    return steps, bests, costs


def _points(curve: Sequence[CurvePoint], sign: float) -> list[_Point]:
    return [_Point(*point) for point in zip(*_curve(curve, sign), strict=True)]


def _finished(peer: Peer, sign: float) -> _Finished | None:
    if not _finite(peer.objective) or peer.objective is None:
        return None
    cost = peer.cost if _positive(peer.cost) else None
    overrun = (cost / peer.predicted_cost if cost is not None and _positive(peer.predicted_cost)
               and peer.predicted_cost is not None else None)
    return _Finished(*_curve(peer.curve, sign), sign * peer.objective, cost,
                     _curve_noise(peer.curve), overrun)


def _curve_noise(curve: Sequence[CurvePoint]) -> float | None:
    """The noise of one progress point of a curve, robustly: the median absolute second
    difference of its values (a smooth trend barely moves it, a drop at a schedule's step
    is one outlier), scaled to a normal's standard deviation (a second difference of
    independent noise has variance 6 sigma^2)."""
    values = [p.objective for p in sorted(curve, key=lambda p: p.step)
              if isinstance(p.objective, int | float) and math.isfinite(p.objective)]
    if len(values) < 5:
        return None
    seconds = sorted(abs(values[i + 1] - 2 * values[i] + values[i - 1])
                     for i in range(1, len(values) - 1))
    return _quantile(seconds, 0.5) / 0.6745 / math.sqrt(6.0)


def _noise(finished: Sequence[_Finished]) -> float:
    """The study's progress noise: the median over finished peers of their curves' noise
    (0 when no curve can tell)."""
    noises = [f.noise for f in finished if f.noise is not None]
    return _quantile(noises, 0.5) if noises else 0.0


def _slack(finished: Sequence[_Finished]) -> float:
    """How far a trial's predicted cost may fall short, read from the finished peers whose
    cost was predicted (PREDICTION_SLACK when too few were)."""
    overruns = [f.overrun for f in finished if f.overrun is not None]
    if not ADAPTIVE_SLACK or len(overruns) < SLACK_PEERS:
        return PREDICTION_SLACK
    return max(MIN_SLACK, _quantile(overruns, SLACK_QUANTILE) - 1.0)


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _spread(values: Sequence[float]) -> float:
    """The interquartile range of the finished trials' results: what makes the margin
    unit-free (a fraction of how much the study's trials differ)."""
    return _quantile(values, 0.75) - _quantile(values, 0.25)


def _grace_check(fraction: float, predicted: float | None,
                 finished: Sequence[_Finished]) -> Callable[[_Point], bool]:
    """Whether a point is past the grace point: a fraction of the trial's own predicted
    cost, or, without a cost, of the finished peers' typical (median) last step."""
    final_steps = [f.steps[-1] for f in finished if f.steps]
    typical_step = _quantile(final_steps, 0.5) if final_steps else None

    def past(point: _Point) -> bool:
        if predicted is not None and point.cost is not None:
            return point.cost >= fraction * predicted
        return typical_step is not None and point.step >= fraction * typical_step

    return past


def _at_step(peer: _Finished, step: int) -> float | None:
    """The peer's best badness at the nearest step at or below `step`."""
    i = bisect.bisect_right(peer.steps, step)
    return peer.best[i - 1] if i else None


def _median_verdict(point: _Point, finished: Sequence[_Finished],
                    min_trials: int) -> tuple[float, int] | None:
    """The median best-so-far of the finished peers that reached this step, and how many."""
    values = []
    for peer in finished:
        if peer.steps and peer.steps[-1] >= point.step:
            at = _at_step(peer, point.step)
            if at is not None:
                values.append(at)
    if len(values) < min_trials:
        return None
    return _quantile(values, 0.5), len(values)


def _at_fraction(peer: _Finished, fraction: float) -> tuple[float, float] | None:
    """(log cost, best badness) of the peer at `fraction` of its own final cost: its last
    progress point within that cost, or its final result once the fraction reaches 1."""
    if peer.cost is None:
        return None
    if fraction >= 1.0:
        return math.log(peer.cost), min(peer.badness, *peer.best[-1:])
    limit = fraction * peer.cost
    found = -1
    for i, cost in enumerate(peer.costs):  # by step, so by cost too
        if cost is None or cost <= 0:
            continue
        if cost > limit:
            break
        found = i
    if found < 0:
        return None
    return math.log(peer.costs[found] or 1.0), peer.best[found]


def _frontier_verdict(point: _Point, predicted: float, finished: Sequence[_Finished],
                      slack: float | None = None) -> tuple[float, int] | None:
    """What the study reaches at the trial's cost so far, read at the same fraction of each
    peer's own run, through a low-quantile fit of badness on log cost local to that cost.

    Local (a kernel of FRONTIER_BANDWIDTH in log cost) because badness against log cost is
    convex: one straight line over the whole study lies below it at both ends, and would
    stop exactly the cheapest and the dearest trials, those that extend the frontier. No
    verdict without peers near that cost, or with none at or below it: a trial cheaper than
    every peer is alone at its cost. A trial dearer than every peer is held to what the
    dearest peers reach (it spent more, so being worse than them is plainly bad). The
    reference is never better than the best peer at that stage.
    """
    if point.cost is None or point.cost <= 0:
        return None
    if PROTECT_CHEAPEST and predicted < min(
            (f.cost for f in finished if f.cost is not None), default=0.0):
        return None
    if STAGE_PROTECT_DEAREST and predicted > max(
            (f.cost for f in finished if f.cost is not None), default=math.inf):
        return None
    fraction = point.cost / predicted / (1.0 + (PREDICTION_SLACK if slack is None else slack))
    fit_points = [xy for xy in (_at_fraction(f, fraction) for f in finished) if xy is not None]
    if len(fit_points) > MAX_FIT_POINTS:
        stride = len(fit_points) / MAX_FIT_POINTS
        fit_points = [fit_points[int(i * stride)] for i in range(MAX_FIT_POINTS)]
    xs = [x for x, _ in fit_points]
    x = math.log(point.cost)
    if not xs or min(xs) > x:
        return None
    x = min(x, max(xs))
    kernel = [math.exp(-0.5 * ((xi - x) / FRONTIER_BANDWIDTH) ** 2) for xi in xs]
    if sum(kernel) < FRONTIER_SUPPORT:
        return None
    ys = [y for _, y in fit_points]
    reference = _local_quantile([xi - x for xi in xs], ys, kernel, FRONTIER_QUANTILE)
    if GAIN_MARGIN:
        reference += GAIN_MARGIN * _gain_spread(finished, fraction, x)
    # A local line over few, scattered peers can run below every one of them (on the digits
    # benchmark it asked for a negative cross-entropy): never hold the trial to better than
    # the best any peer reached at that stage. (Flooring at the best peer with no more
    # compute instead held every trial to a cheaper trial's value: on the learning-curve
    # benchmark's Chinchilla seeds 0-2 it stopped 3, 1 and 9 trials of 40 where this stops
    # 11, 11 and 12; over 8 seeds this saves 47% of the compute at 0.92x the regret.)
    return max(reference, min(ys)), len(fit_points)


def _projected_verdict(point: _Point, predicted: float, finished: Sequence[_Finished],
                       slack: float | None = None) -> tuple[float, int] | None:
    """The best the trial could still end at, as a reference for its best so far: the study's
    best finished result costing at most the trial's predicted cost, plus what peers of
    about its cost still gained from this stage of their runs to their ends (a high
    quantile, so only a trial that even a good finish would leave behind is stopped).

    The gain is read at the trial's fraction of its predicted cost / (1 + slack), as the
    stage rule reads peers, so a cost predicted too low makes the trial look earlier in its
    run (more left to gain), never later. The uncertainty of the comparison shrinks as the
    trial progresses: the gains left shrink to the noise of one final report. No verdict
    for a trial cheaper than every finished peer (nothing at its cost to beat), predicted
    dearer than every one (PROTECT_DEAREST: nothing at its cost says it loses), or without
    peers near its cost.
    """
    if point.cost is None or point.cost <= 0:
        return None
    costs = [f.cost for f in finished if f.cost is not None]
    frontier = [f.badness for f in finished if f.cost is not None and f.cost <= predicted]
    if not frontier or (PROTECT_DEAREST and predicted > max(costs)):
        return None
    fraction = point.cost / predicted / (1.0 + (PREDICTION_SLACK if slack is None else slack))
    x = math.log(predicted)
    gains, weights = [], []
    for peer in finished:
        if peer.cost is None:
            continue
        at = _at_fraction(peer, fraction)
        if at is None:
            continue
        gains.append(at[1] - min(peer.badness, *peer.best[-1:]))
        weights.append(math.exp(-0.5 * ((math.log(peer.cost) - x) / FRONTIER_BANDWIDTH) ** 2))
    if sum(weights) < FRONTIER_SUPPORT:
        return None
    gain = max(0.0, _weighted_quantile(gains, weights, PROJECTION_QUANTILE))
    return min(frontier) + gain, len(gains)


def _gain_spread(finished: Sequence[_Finished], fraction: float, x: float) -> float:
    """How much the peers' remaining gains from `fraction` of their runs to their ends differ
    among peers near log cost `x` (their kernel-weighted GAIN_UPPER quantile less their
    median; peers weighted by their cost at that stage, as the fit weights them)."""
    gains, weights = [], []
    for peer in finished:
        at = _at_fraction(peer, fraction)
        if at is None:
            continue
        gains.append(at[1] - min(peer.badness, *peer.best[-1:]))
        weights.append(math.exp(-0.5 * ((at[0] - x) / FRONTIER_BANDWIDTH) ** 2))
    if not gains or sum(weights) <= 0:
        return 0.0
    return max(0.0, _weighted_quantile(gains, weights, GAIN_UPPER)
               - _weighted_quantile(gains, weights, 0.5))


def _weighted_quantile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """The q-quantile of values under weights (the smallest value whose cumulative weight
    reaches q of the total)."""
    ordered = sorted(zip(values, weights, strict=True))
    total = sum(weights)
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= q * total:
            return value
    return ordered[-1][0]


def _local_quantile(xs: Sequence[float], ys: Sequence[float], kernel: Sequence[float],
                    q: float) -> float:
    """Kernel-weighted linear quantile regression's value at x = 0, by iteratively
    reweighted least squares: O(points) per iteration, no solver for two coefficients."""
    floor = 1e-6 * (max(ys) - min(ys) or 1.0)
    weights = list(kernel)
    value = 0.0
    for _ in range(_IRLS_ITERATIONS):
        sw = sum(weights)
        mx = sum(w * x for w, x in zip(weights, xs, strict=True)) / sw
        my = sum(w * y for w, y in zip(weights, ys, strict=True)) / sw
        sxx = sum(w * (x - mx) ** 2 for w, x in zip(weights, xs, strict=True))
        sxy = sum(w * (x - mx) * (y - my) for w, x, y in zip(weights, xs, ys, strict=True))
        slope = sxy / sxx if sxx > 1e-12 * sw else 0.0
        value = my - slope * mx
        weights = []
        for k, x, y in zip(kernel, xs, ys, strict=True):
            residual = y - (value + slope * x)
            side = q if residual >= 0 else 1.0 - q
            weights.append(k * side / max(abs(residual), floor))
    return value


def _projected_reason(metric: str, sign: float, point: _Point, reference: float,
                      margin: float, peers_used: int, predicted: float,
                      finished: Sequence[_Finished]) -> str:
    best = min(f.badness for f in finished if f.cost is not None and f.cost <= predicted)
    return (f"Frontier: best {metric} {sign * point.best:.4g} at cost {point.cost:.3g} of "
            f"{predicted:.3g} predicted would have to improve by more than {peers_used} "
            f"finished trials did from the same stage ({abs(reference - best):.3g}, margin "
            f"{margin:.2g}) to beat the study's best {sign * best:.4g} at that cost")


def _reason(rule: StoppingRule, metric: str, sign: float, point: _Point, reference: float,
            margin: float, peers_used: int) -> str:
    value, there = sign * point.best, sign * reference
    if rule == StoppingRule.MEDIAN:
        return (f"Median: best {metric} {value:.4g} by step {point.step} is worse than the "
                f"median {there:.4g} (margin {margin:.2g}) of {peers_used} finished trials "
                "at that step")
    return (f"Frontier: best {metric} {value:.4g} at cost {point.cost:.3g} is worse than "
            f"the study's {there:.4g} (margin {margin:.2g}) there, fitted on {peers_used} "
            "finished trials at the same fraction of their runs")
