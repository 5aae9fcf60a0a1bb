"""Frontier's measured alternatives, off by default (benchmarks/README.md, Early stopping):
the projected verdict (early_stopping.PROJECTED: a trial is stopped only when, given what its
peers still gained from the same stage of their runs, it could not end better than the
study's best finished result costing no more than it is predicted to cost), the gain margin
and the stage rule's protection of the dearest trial. Peers and curves are
test_early_stopping_rules.py's (loss 2 + 5 C^-0.2, constant learning rate); here every
peer's cost was predicted right, so the prediction slack is 0."""

from __future__ import annotations

import pytest

from carbs_operator import early_stopping as rules
from carbs_operator.early_stopping import Peer, rule_verdict
from carbs_operator.models import Direction
from tests.operator.test_early_stopping_rules import FRONTIER, run_curve


def study(costs: list[float]) -> list[Peer]:
    out = []
    for total in costs:
        curve = run_curve(total)
        out.append(Peer(curve, curve[-1].objective, total, total))
    return out


EVERY = study([100.0 * 2**k for k in range(8)])  # whole runs of 100 to 12,800
GAP = study([100.0, 200.0, 400.0, 800.0, 3200.0, 6400.0, 12800.0])  # none near 1,600


def stops(offset: float, until: float, peers: list[Peer], cost: float = 3000.0) -> bool:
    curve = run_curve(cost, offset=offset, until=until)
    return rule_verdict(FRONTIER, Direction.MINIMIZE, curve, cost, peers) is not None


@pytest.fixture
def projected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "PROJECTED", 1.0)


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "PROJECTED", 0.0)


@pytest.mark.usefixtures("stage")
def test_the_stage_rule_stops_a_trial_that_would_have_extended_the_frontier() -> None:
    """0.1 above the law, a run of 3,000 ends at 3.11: better than every finished trial
    costing no more (the run of 1,600 ended at 3.14). Behind its peers at the same stage, the
    stage rule stops it: what the capped benchmark found it doing to most of its stops."""
    assert stops(0.1, 0.5, EVERY)


@pytest.mark.usefixtures("projected")
def test_projected_keeps_a_trial_that_could_still_beat_the_frontier_at_its_cost() -> None:
    for until in (0.3, 0.5, 0.7, 0.9):
        assert not stops(0.1, until, EVERY)


@pytest.mark.usefixtures("projected")
def test_projected_stops_once_the_gain_left_cannot_close_the_gap() -> None:
    """0.3 above the law it ends at 3.31, behind the run of 1,600. Early on, peers gained
    more than the gap from that stage and it is kept; from half way they did not."""
    assert not stops(0.3, 0.3, EVERY)
    assert stops(0.3, 0.5, EVERY)
    assert stops(0.3, 0.9, EVERY)


@pytest.mark.usefixtures("projected")
def test_projected_holds_a_trial_to_what_costs_no_more_than_it() -> None:
    """The same trial where the dearest finished run costing at most 3,000 is the run of 800
    (3.31): it would end just better, so it runs on."""
    for until in (0.5, 0.9):
        assert not stops(0.3, until, GAP)


@pytest.mark.usefixtures("projected")
def test_projected_never_stops_a_trial_dearer_than_every_finished_peer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No finished trial at its cost can say it would lose (PROTECT_DEAREST); the stage rule
    holds it to the dearest peers instead."""
    assert not stops(0.8, 0.5, EVERY, cost=20_000.0)
    monkeypatch.setattr(rules, "PROTECT_DEAREST", 0.0)
    assert stops(0.8, 0.5, EVERY, cost=20_000.0)


@pytest.mark.usefixtures("projected")
def test_projected_never_stops_a_trial_cheaper_than_every_finished_peer() -> None:
    """Nothing finished costs as little: there is no frontier there to fall short of."""
    assert not stops(1.0, 0.6, EVERY, cost=80.0)
    assert stops(1.0, 0.6, study([40.0] + [100.0 * 2**k for k in range(8)]), cost=80.0)


@pytest.mark.usefixtures("projected")
def test_projected_reason_names_the_gain_and_the_best_it_must_beat() -> None:
    curve = run_curve(3000.0, offset=0.8, until=0.5)
    decision = rule_verdict(FRONTIER, Direction.MINIMIZE, curve, 3000.0, EVERY, metric="val_loss")
    assert decision is not None
    assert decision.reason.startswith("Frontier: best val_loss")
    assert "to beat the study's best 3.143 at that cost" in decision.reason


def fanned_study() -> list[Peer]:
    """Every other peer anneals late (cosine): from mid-run on, what peers still gain
    differs by up to half a unit."""
    out = []
    for k in range(8):
        total = 100.0 * 2**k
        curve = run_curve(total, cosine=k % 2 == 0)
        out.append(Peer(curve, curve[-1].objective, total, total))
    return out


@pytest.mark.usefixtures("stage")
def test_the_gain_margin_waits_where_the_peers_curves_fan_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """GAIN_MARGIN (off by default; measured in benchmarks/README.md): the stage comparison's
    margin also holds the spread of the gains peers near its cost still made from that
    stage, so it shrinks as the trial progresses and grows where curves differ in shape."""
    for until in (0.3, 0.5, 0.9):
        assert stops(0.3, until, fanned_study())
    monkeypatch.setattr(rules, "GAIN_MARGIN", 1.0)
    assert not stops(0.3, 0.3, fanned_study())
    assert not stops(0.3, 0.5, fanned_study())
    assert stops(0.3, 0.9, fanned_study())  # little left to gain: the margin has shrunk
    assert stops(0.3, 0.5, EVERY)  # peers alike: a narrower margin


@pytest.mark.usefixtures("stage")
def test_stage_protect_dearest_leaves_a_trial_dearer_than_every_finished_peer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert stops(0.8, 0.5, EVERY, cost=20_000.0)
    monkeypatch.setattr(rules, "STAGE_PROTECT_DEAREST", 1.0)
    assert not stops(0.8, 0.5, EVERY, cost=20_000.0)
    assert stops(0.8, 0.5, EVERY, cost=3000.0)
