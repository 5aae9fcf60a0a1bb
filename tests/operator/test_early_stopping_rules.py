"""The early-stopping rules on hand-built learning curves.

Peers follow a simple law of loss against compute: a run of total cost C ends at
`2 + 5 C^-0.2`; with a constant learning rate it passes through the loss a run ending at its
cost so far would have had, with a cosine schedule it sits higher until it anneals at its end.
"""

from __future__ import annotations

import math
import random

import pytest

from carbs_operator.early_stopping import (
    PREDICTION_SLACK,
    CurvePoint,
    Peer,
    StopDecision,
    _at_fraction,
    _finished,
    _frontier_verdict,
    _Point,
    rule_verdict,
)
from carbs_operator.models import Direction, StudySpec, TrialPhase
from carbs_operator.models.early_stopping import EarlyStopping, StoppingRule
from carbs_operator.replay import (
    EARLY_STOPPED_FEEDBACK,
    StoppedFeedback,
    build_engine,
    observe_trial,
)
from carbs_operator.study import TrialRecord
from carbs_optimizer import SUGGESTION_ID_DICT_KEY
from tests.support.builders import study_spec, trial_record

POINTS = 20
FRONTIER = EarlyStopping(rule=StoppingRule.FRONTIER, min_trials=5, grace_fraction=0.25,
                         margin=0.1)
MEDIAN = EarlyStopping(rule=StoppingRule.MEDIAN, min_trials=5, grace_fraction=0.25,
                       margin=0.1)


def law(cost: float) -> float:
    return 2.0 + 5.0 * float(cost ** -0.2)


def run_curve(total: float, *, offset: float = 0.0, cosine: bool = False,
              until: float = 1.0, noise: float = 0.0, seed: int = 0) -> list[CurvePoint]:
    """A run of total cost `total` reported at POINTS evenly spaced steps, up to `until`."""
    points = []
    for i in range(1, POINTS + 1):
        fraction = i / POINTS
        if fraction > until + 1e-9:
            break
        cost = fraction * total
        loss = law(cost) + offset
        if cosine:  # un-annealed until late: half a unit higher, falling to the law at the end
            loss += 0.5 * (1 + math.cos(math.pi * fraction)) / 2 * 1.0
        loss += noise * math.sin(seed * 7.1 + i * 2.3)  # deterministic "noise"
        points.append(CurvePoint(step=i * 100, objective=loss, cost=cost))
    return points


def peers(n: int = 8, *, cosine: bool = False, sign: float = 1.0) -> list[Peer]:
    out = []
    for k in range(n):
        total = 100.0 * 2 ** k
        curve = [CurvePoint(p.step, sign * p.objective, p.cost)
                 for p in run_curve(total, cosine=cosine)]
        out.append(Peer(curve=curve, objective=curve[-1].objective, cost=total))
    return out


def test_frontier_stops_a_plainly_bad_run_with_a_reason_naming_the_numbers() -> None:
    curve = run_curve(3000.0, offset=0.8, until=0.5)
    decision = rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 3000.0, peers(), metric="val_loss")
    assert isinstance(decision, StopDecision)
    assert decision.reason.startswith("Frontier: best val_loss")
    assert f"{curve[-1].objective:.4g}" in decision.reason
    assert (decision.step, decision.objective, decision.cost) == (
        curve[-1].step, curve[-1].objective, curve[-1].cost)


def test_median_stops_a_plainly_bad_run() -> None:
    curve = run_curve(3000.0, offset=0.8, until=0.5)
    decision = rule_verdict(MEDIAN, Direction.MINIMIZE, curve, 3000.0, peers())
    assert decision is not None
    assert decision.reason.startswith("Median: best objective")


@pytest.mark.parametrize("settings", [FRONTIER, MEDIAN])
def test_a_noisy_good_run_is_kept(settings: EarlyStopping) -> None:
    for seed in range(10):
        for until in (0.3, 0.5, 0.8, 1.0):
            curve = run_curve(3000.0, offset=-0.02, noise=0.3, seed=seed, until=until)
            assert rule_verdict(settings, Direction.MINIMIZE, curve, 3000.0, peers()) is None


def test_frontier_keeps_a_good_cosine_run_whose_loss_falls_late() -> None:
    study = peers(cosine=True)
    for until in (0.3, 0.5, 0.7, 0.9, 1.0):
        curve = run_curve(20_000.0, cosine=True, until=until)  # bigger than every peer
        assert rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 20_000.0, study) is None
        curve = run_curve(1500.0, cosine=True, until=until, offset=-0.01)  # inside their range
        assert rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 1500.0, study) is None


def test_frontier_still_stops_a_bad_cosine_run() -> None:
    curve = run_curve(1500.0, cosine=True, until=0.5, offset=0.8)
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 1500.0, peers(cosine=True)) is not None


@pytest.mark.parametrize("settings", [FRONTIER, MEDIAN])
def test_no_stop_before_min_trials_have_finished(settings: EarlyStopping) -> None:
    curve = run_curve(3000.0, offset=0.8, until=0.5)
    study = peers(8)
    unfinished = [Peer(curve=p.curve) for p in study[4:]]  # running or stopped: no result
    assert rule_verdict(settings, Direction.MINIMIZE, curve, 3000.0, study[:4] + unfinished) is None
    assert rule_verdict(settings, Direction.MINIMIZE, curve, 3000.0, study[:5] + unfinished)


@pytest.mark.parametrize("settings", [FRONTIER, MEDIAN])
def test_no_stop_before_the_grace_fraction_of_the_predicted_cost(
        settings: EarlyStopping) -> None:
    early = run_curve(3000.0, offset=0.8, until=0.2)
    assert rule_verdict(settings, Direction.MINIMIZE, early, 3000.0, peers()) is None
    assert rule_verdict(settings, Direction.MINIMIZE, early, 500.0, peers()) is not None
    late_grace = settings.model_copy(update={"grace_fraction": 0.9})
    assert rule_verdict(late_grace, Direction.MINIMIZE, run_curve(3000.0, offset=0.8, until=0.8),
                  3000.0, peers()) is None


def test_median_without_cost_uses_the_peers_typical_last_step_for_grace() -> None:
    bare = [CurvePoint(p.step, p.objective) for p in run_curve(3000.0, offset=0.8)]
    study = [Peer([CurvePoint(p.step, p.objective) for p in peer.curve], peer.objective)
             for peer in peers()]
    assert rule_verdict(MEDIAN, Direction.MINIMIZE, bare[:4], None, study) is None  # step 400 < 500
    assert rule_verdict(MEDIAN, Direction.MINIMIZE, bare[:8], None, study) is not None


def same_size_peers(offsets: list[float]) -> list[Peer]:
    curves = [run_curve(3000.0, offset=o) for o in offsets]
    return [Peer(curve=c, objective=c[-1].objective, cost=3000.0) for c in curves]


@pytest.mark.parametrize("settings", [FRONTIER, MEDIAN])
def test_the_margin_is_a_fraction_of_the_studys_spread(settings: EarlyStopping) -> None:
    study = same_size_peers([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    # Results spread 0.4 between their quartiles; the median peer runs at +0.4; the Frontier
    # fit follows the 30% quantile (+0.24). A trial at +0.5 is worse than both by < 0.4.
    curve = run_curve(3000.0, offset=0.5, until=0.6)
    tight = settings.model_copy(update={"margin": 0.0})
    loose = settings.model_copy(update={"margin": 1.0})
    assert rule_verdict(tight, Direction.MINIMIZE, curve, 3000.0, study) is not None
    assert rule_verdict(loose, Direction.MINIMIZE, curve, 3000.0, study) is None


@pytest.mark.parametrize("settings", [FRONTIER, MEDIAN])
@pytest.mark.parametrize("offset", [0.8, -0.02])
def test_maximize_mirrors_minimize(settings: EarlyStopping, offset: float) -> None:
    curve = run_curve(3000.0, offset=offset, until=0.6)
    mirrored = [CurvePoint(p.step, -p.objective, p.cost) for p in curve]
    low = rule_verdict(settings, Direction.MINIMIZE, curve, 3000.0, peers())
    high = rule_verdict(settings, Direction.MAXIMIZE, mirrored, 3000.0, peers(sign=-1.0))
    assert (low is None) == (high is None) == (offset < 0)
    if low is not None and high is not None:
        assert high.objective == -low.objective


def test_frontier_never_stops_without_a_cost() -> None:
    curve = run_curve(3000.0, offset=0.8, until=0.6)
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, curve, None, peers()) is None
    bare = [CurvePoint(p.step, p.objective) for p in curve]
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, bare, 3000.0, peers()) is None


def test_one_bad_report_is_not_enough() -> None:
    curve = run_curve(3000.0, until=0.6)
    spike = [*curve[:-1], CurvePoint(curve[-1].step, curve[-1].objective + 5.0, curve[-1].cost)]
    for settings in (FRONTIER, MEDIAN):
        assert rule_verdict(settings, Direction.MINIMIZE, spike, 3000.0, peers()) is None
    worse = [CurvePoint(p.step, p.objective + 0.8, p.cost) for p in curve]
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, worse, 3000.0, peers())
    only_last = [*curve[:-1], worse[-1]]
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, only_last, 3000.0, peers()) is None


def test_garbage_values_are_ignored() -> None:
    nan, inf = math.nan, math.inf
    curve = run_curve(3000.0, offset=0.8, until=0.6)
    dirty = [*curve, CurvePoint(10_000, nan, 2000.0), CurvePoint(-5, 0.0, 1.0),
             CurvePoint(10_001, -inf, inf)]
    study = peers()
    junk = [Peer([CurvePoint(1, nan, nan)], objective=nan, cost=inf),
            Peer([], objective=inf, cost=1.0)]
    clean = rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 3000.0, study)
    assert clean is not None
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, dirty, 3000.0, study + junk) == clean
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, dirty, nan, study) is None
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, [CurvePoint(1, nan)], 3000.0, study) is None
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, [], 3000.0, study) is None
    # Four real results and four that are garbage: not enough to stop anything.
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 3000.0, study[:4] + junk * 2) is None


def test_a_thousand_peers_are_cheap_enough_to_poll() -> None:
    """Not a timing assertion (those live in benchmarks): the fit uses a bounded sample."""
    many = peers(8) * 125
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, run_curve(3000.0, offset=0.8, until=0.6),
                  3000.0, many) is not None


def test_frontier_never_stops_a_trial_cheaper_than_every_peer() -> None:
    """Alone at its cost, it extends the frontier whatever its loss (no peer to beat)."""
    curve = run_curve(40.0, offset=0.8, until=0.6)  # the cheapest peer costs 100
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 40.0, peers()) is None


def test_frontier_holds_a_trial_dearer_than_every_peer_to_the_dearest_peers() -> None:
    study = peers(6)  # dearest peer: 3200
    bad = run_curve(50_000.0, offset=0.8, until=0.3)  # worse than cheaper runs at that stage
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, bad, 50_000.0, study) is not None
    good = run_curve(50_000.0, until=0.3)
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, good, 50_000.0, study) is None


def test_frontier_needs_peers_near_the_trials_cost() -> None:
    """Peers all far cheaper (a factor of 30 and more) leave the rule without support."""
    cheap = [Peer(c, c[-1].objective, 10.0) for c in (run_curve(10.0, offset=o)
                                                     for o in (0.0, 0.1, 0.2, 0.3, 0.4))]
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, run_curve(3000.0, offset=0.8, until=0.6),
                  3000.0, cheap) is None


def replay_spec() -> StudySpec:
    return study_spec()


def stopped_record(index: int, predicted: float | None) -> TrialRecord:
    return trial_record(
        index, TrialPhase.EARLY_STOPPED, objective=0.9, cost=2.0, suggestion_id=f"s{index}",
        params={"lr": 1e-2, "width": 64, "dropout": 0.1, "momentum": 0.0},
        predicted_cost=predicted, curve=(CurvePoint(1, 1.2, 1.0), CurvePoint(2, 0.9, 2.0)),
    )


def succeeded_record(index: int, lr: float, objective: float, cost: float) -> TrialRecord:
    return trial_record(
        index, TrialPhase.SUCCEEDED, objective=objective, cost=cost, suggestion_id=f"s{index}",
        params={"lr": lr, "width": 64, "dropout": 0.1, "momentum": 0.0},
    )


def test_replay_tells_the_engine_a_stopped_trial_was_no_better_than_the_frontier_there() -> None:
    """The kept feedback (benchmarks/README.md, issue 23): a censored success at the trial's
    predicted cost, valued at the study's best at that cost or less, a hair worse; never a
    success at the cost it had spent, never on the frontier, never a failure that shrinks
    the study's reach. A failure when nothing cost as little or no cost was predicted."""
    assert EARLY_STOPPED_FEEDBACK == StoppedFeedback.CENSORED
    trials = [succeeded_record(0, 1e-3, 0.5, 4.0), succeeded_record(1, 3e-3, 0.3, 16.0),
              succeeded_record(2, 2e-3, 0.7, 6.0), stopped_record(3, 8.0),
              stopped_record(4, 2.0), stopped_record(5, None)]
    engine = build_engine(replay_spec(), trials, device="cpu")
    censored = [o for o in engine.success_observations if o.suggestion_id == "s3"]
    assert len(censored) == 1
    assert censored[0].cost == 8.0
    assert 0.5 < censored[0].output < 0.5 + 1e-6  # the best at cost <= 8, made worse
    assert len(engine.failure_observations) == 2  # cheaper than every success; no prediction
    frontier = {o.suggestion_id for group in engine.pareto_groups(False) for o in group}
    assert "s3" not in frontier
    fed = build_engine(replay_spec(), [], device="cpu")  # as carbs run feeds it, trial by trial
    for trial in trials:
        observe_trial(fed, trial)
    assert [(o.output, o.cost) for o in fed.success_observations] == [
        (o.output, o.cost) for o in engine.success_observations]


def test_the_laws_are_read_from_measured_results_only() -> None:
    """A censored value steers the search; no scaling law is fitted through it."""
    from dataclasses import replace

    from carbs_operator.replay import scaling_laws

    trials = [succeeded_record(i, 1e-3 * (i + 1), 1.0 / (i + 1), 2.0 ** i) for i in range(6)]
    stopped = [*trials, replace(stopped_record(6, 40.0), params={**trials[0].params,
                                                                "width": 128})]
    failed = [*trials, replace(stopped[-1], phase=TrialPhase.FAILED, objective=None)]
    assert scaling_laws(replay_spec(), stopped) == scaling_laws(replay_spec(), failed)
    engine = build_engine(replay_spec(), stopped, device="cpu")
    assert len(engine.success_observations) == 7  # the search does learn from it


def test_a_censored_value_follows_the_direction() -> None:
    spec = replay_spec()
    spec.objective.direction = Direction.MAXIMIZE
    trials = [succeeded_record(0, 1e-3, 0.5, 4.0), succeeded_record(1, 2e-3, 0.7, 6.0),
              stopped_record(2, 8.0)]
    engine = build_engine(spec, trials, device="cpu")
    (censored,) = [o for o in engine.success_observations if o.suggestion_id == "s2"]
    assert 0.7 - 1e-6 < censored.output < 0.7


def test_replay_of_the_measured_alternatives() -> None:
    engine = build_engine(replay_spec(), [], device="cpu")
    observe_trial(engine, stopped_record(0, 8.0), StoppedFeedback.BOUND)
    (observation,) = engine.success_observations
    assert (observation.output, observation.cost) == (0.9, 8.0)  # at its full predicted cost
    observe_trial(engine, stopped_record(1, None), StoppedFeedback.BOUND)  # no prediction
    assert len(engine.failure_observations) == 1
    engine.add_outstanding_suggestion({**stopped_record(2, 8.0).params,
                                       SUGGESTION_ID_DICT_KEY: "s2"})
    observe_trial(engine, stopped_record(2, 8.0), StoppedFeedback.NOTHING)
    assert not engine.outstanding_suggestions
    assert (len(engine.success_observations), len(engine.failure_observations)) == (1, 1)


def test_frontier_never_asks_for_better_than_the_best_peer_at_that_stage() -> None:
    """Scattered peers (the digits MLP's are) can tilt a local line below all of them; the
    reference is floored at the best any peer reached at that stage."""
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    for _ in range(200):
        study = []
        for _ in range(rng.randint(5, 12)):
            total = 10 ** rng.uniform(2, 4)
            level = rng.uniform(0.1, 3.0)
            curve = [CurvePoint(i, level + 2.0 / i + rng.uniform(0, 0.3), total * i / 10)
                     for i in range(1, 11)]
            study.append(Peer(curve, curve[-1].objective, total))
        finished = [f for f in (_finished(p, 1.0) for p in study) if f is not None]
        cost = 10 ** rng.uniform(2, 4.5)
        verdict = _frontier_verdict(_Point(5, 1.0, cost * 0.5), cost, finished)
        if verdict is None:
            continue
        fraction = 0.5 / (1.0 + PREDICTION_SLACK)
        reached = [xy for xy in (_at_fraction(f, fraction) for f in finished) if xy is not None]
        assert verdict[0] >= min(y for _, y in reached) - 1e-9


def noisy_peers(noise: float) -> list[Peer]:
    out = []
    for k in range(8):
        total = 100.0 * 2 ** k
        curve = run_curve(total, noise=noise, seed=k)
        out.append(Peer(curve, curve[-1].objective, total))
    return out


def test_the_margin_grows_with_the_noise_of_the_curves() -> None:
    """A trial must be worse than its reference by more than a noisy report can make it
    look: the margin is at least the progress noise read off the finished peers' curves."""
    quiet = run_curve(3000.0, offset=0.3, until=0.5)
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, quiet, 3000.0, noisy_peers(0.0)) is not None
    noisy = run_curve(3000.0, offset=0.3, until=0.5, noise=0.2, seed=11)
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, noisy, 3000.0, noisy_peers(0.2)) is None
    plain = run_curve(3000.0, offset=1.0, until=0.5, noise=0.2, seed=11)
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, plain, 3000.0, noisy_peers(0.2)) is not None


def test_the_prediction_slack_is_read_from_the_peers_predictions() -> None:
    """Peers whose cost ran 30% over its prediction give the slack that undoes it; peers
    predicted right give none; too few predictions leave PREDICTION_SLACK."""
    from carbs_operator.early_stopping import SLACK_PEERS, _slack

    def slack(ratio: float | None, n: int = 8) -> float:
        study = [Peer(p.curve, p.objective, p.cost,
                      None if ratio is None else (p.cost or 1.0) * ratio) for p in peers(n)]
        return _slack([f for f in (_finished(p, 1.0) for p in study) if f is not None])

    assert slack(0.7) == pytest.approx(1 / 0.7 - 1)
    assert slack(1.0) == 0.0
    assert slack(1.2) == 0.0  # predictions too high: the trial is read at its own stage
    assert slack(None) == PREDICTION_SLACK
    assert slack(0.7, SLACK_PEERS - 1) == PREDICTION_SLACK


def test_protect_cheapest_leaves_a_trial_cheaper_than_every_finished_peer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under evaluation (off by default): peers' partial points can be cheaper than a trial's
    even when every peer's whole run is dearer, so without it the cheap end can lose every
    finished trial."""
    from carbs_operator import early_stopping as rules

    study = peers()  # whole runs from 100 to 12,800
    curve = run_curve(80.0, offset=1.0, until=0.6)
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 80.0, study) is not None
    monkeypatch.setattr(rules, "PROTECT_CHEAPEST", 1.0)
    assert rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 80.0, study) is None
