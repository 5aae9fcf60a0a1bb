"""The trials' cost line, which holds a predicted configuration to its target cost."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carbs_operator.models import TrialPhase
from carbs_operator.scaleup.frontier_laws import cost_line
from carbs_operator.study import TrialRecord
from carbs_optimizer import LinearSpace, LogSpace, Param

PARAMS = [Param("size", LogSpace(min=1e6, max=1e10), 1e8),
          Param("tokens", LogSpace(min=1e8, max=1e12), 1e10),
          Param("lr", LogSpace(min=1e-5, max=1.0), 1e-3),
          Param("warmup", LinearSpace(min=0.0, max=0.5, scale=0.5), 0.1)]


def trial(index: int, size: float, tokens: float, lr: float, cost: float) -> TrialRecord:
    return TrialRecord(index=index, phase=TrialPhase.SUCCEEDED, objective=1.0, cost=cost,
                       params={"size": size, "tokens": tokens, "lr": lr, "warmup": 0.1})


def flops_trials() -> list[TrialRecord]:
    out = []
    for index in range(12):
        size, tokens = 10 ** (6.5 + 0.25 * index), 10 ** (8.5 + 0.3 * (index % 5))
        out.append(trial(index, size, tokens, 10 ** (-2 - 0.1 * (index % 3)), 6 * size * tokens))
    return out


def test_flops_follow_size_and_tokens_and_the_shift_splits_the_deficit() -> None:
    model = cost_line(PARAMS, flops_trials())
    assert model is not None
    assert model.r2 == pytest.approx(1.0)
    assert model.drivers == (0, 1)  # size and tokens
    assert model.weights[0] == pytest.approx(1.0)
    basic = np.array([8.0, 10.0, -3.0, 0.2])  # size, tokens, lr, warmup
    shift = model.shift(basic, 6e20)  # modelled cost 6e18: two decades short
    assert shift == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert math.isclose(model.log_cost(basic + shift), math.log10(6e20))


def test_no_model_when_cost_does_not_follow_the_parameters() -> None:
    noisy = [trial(t.index, float(t.params["size"]), float(t.params["tokens"]), 1e-3,
                   10.0 ** (3 + (t.index * 7919) % 11)) for t in flops_trials()]
    assert cost_line(PARAMS, noisy) is None
    assert cost_line(PARAMS, flops_trials()[:5]) is None  # too few trials
