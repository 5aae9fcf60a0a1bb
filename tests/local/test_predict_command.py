"""`carbs predict` on local state: the table, --json, --manifest, refusals and usage errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from carbs_operator.cli import main
from carbs_operator.local.store import TrialStore
from carbs_operator.models import TrialPhase
from carbs_operator.study import TrialRecord
from carbs_operator.validation import load_study, validate_file


def stored_study(write_study: Callable[..., Path], points: int) -> tuple[Path, Path]:
    """A quad study whose SQLite state holds `points` finished trials on a known law
    (loss = 0.2 + 1/size, cost = size) and one failed trial, as `carbs run` stores them."""
    path = write_study()
    study = load_study(path)
    state = path.parent / "state"
    with TrialStore(state / "quad.db") as store:
        store.bind_study("quad", study.spec)
        for index in range(points):
            size = float(round(2 * 3**index))
            store.insert(TrialRecord(index=index, phase=TrialPhase.PENDING,
                                     params={"lr": 1e-2, "x": 0.3, "size": size}))
            store.finish(index, TrialPhase.SUCCEEDED, objective=0.2 + 1 / size, cost=size,
                         metrics={"loss": 0.2 + 1 / size, "flops": size},
                         finished_at=time.time())
        store.insert(TrialRecord(index=points, phase=TrialPhase.PENDING,
                                 params={"lr": 0.5, "x": 0.9, "size": 5.0}))
        store.finish(points, TrialPhase.FAILED, failure_reason="exited with code 1")
    return path, state


def predict(*args: str) -> int:
    return main(["predict", *args])


def test_json_on_local_state(
    write_study: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, state = stored_study(write_study, 6)  # sizes 2 .. 486
    assert predict(str(path), "--state-dir", str(state), "--cost", "4860", "--json") == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert set(document) == {"cost", "params", "intervals", "objective", "objectiveInterval",
                             "extrapolation"}
    assert document["cost"] == 4860
    assert document["extrapolation"] == pytest.approx(10.0)
    assert document["params"]["size"] == 1000  # size ∝ cost, held to the space's max
    assert document["params"]["lr"] == pytest.approx(1e-2)
    assert document["objective"] == pytest.approx(0.2 + 1 / 4860, abs=0.01)
    low, high = document["objectiveInterval"]
    assert low <= document["objective"] <= high
    assert set(document["intervals"]) == {"lr", "x", "size"}


def test_table_on_local_state(
    write_study: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, state = stored_study(write_study, 6)
    assert predict(str(path), "--state-dir", str(state), "--cost", "4860") == 0
    out = capsys.readouterr().out
    assert "quad: predicted at flops = 4860 (10x the largest trial)" in out
    for name in ("lr", "x", "size", "loss", "L(C) ="):
        assert name in out


def test_manifest_is_a_valid_study_centered_on_the_prediction(
    write_study: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, state = stored_study(write_study, 6)
    out = path.parent / "big.yaml"
    assert predict(str(path), "--state-dir", str(state), "--cost", "4860", "--json",
                   "--manifest", str(out), "--max-trials", "7") == 0
    document = json.loads(capsys.readouterr().out)
    assert validate_file(out) == []
    manifest = yaml.safe_load(out.read_text(encoding="utf-8"))
    spec = manifest["spec"]
    assert manifest["metadata"]["name"] == "quad-scaleup"
    assert spec["budget"]["maxTrials"] == 7
    assert spec["carbs"]["initialSearchRadius"] == 0.1
    centers = {p["name"]: p["searchCenter"] for p in spec["parameters"]}
    assert centers["lr"] == document["params"]["lr"]
    assert centers["x"] == document["params"]["x"]
    # The law points past size's max (1000): the bound moves so the center can follow it.
    size = next(p for p in spec["parameters"] if p["name"] == "size")
    assert document["params"]["size"] == 1000
    assert centers["size"] == 4860
    assert size["max"] == 4860
    assert spec["trialTemplate"] == load_study(path).model_dump(
        mode="json", by_alias=True, exclude_unset=True)["spec"]["trialTemplate"]


def test_refuses_a_short_frontier_with_a_clear_message(
    write_study: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, state = stored_study(write_study, 3)
    assert predict(str(path), "--state-dir", str(state), "--cost", "1e4") == 1
    err = capsys.readouterr().err
    assert "the Pareto frontier is too short: 3 point(s), a law needs at least 4" in err
    assert predict(str(path), "--state-dir", str(state), "--cost", "1e4", "--json") == 1
    assert "too short" in json.loads(capsys.readouterr().out)["error"]


def test_usage_and_missing_state(
    write_study: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_study()
    assert predict("--cost", "10") == 2
    assert "give STUDY.yaml" in capsys.readouterr().err
    assert predict(str(path), "--cluster", "default/quad", "--cost", "10") == 2
    assert predict(str(path), "--cost", "10", "--manifest", "x.yaml") == 2
    assert "--max-trials" in capsys.readouterr().err
    assert predict(str(path), "--state-dir", str(path.parent / "none"), "--cost", "10") == 1
    assert "no state for study quad" in capsys.readouterr().err
    assert predict(str(path), "--cost", "ten") == 2
    assert predict(str(path), "--cluster", "no-slash", "--cost", "10") == 2


@pytest.mark.parametrize("cost", ["0", "-5", "inf", "nan"])
def test_refuses_a_cost_that_is_not_positive_and_finite(
    write_study: Callable[..., Path], capsys: pytest.CaptureFixture[str], cost: str
) -> None:
    path, state = stored_study(write_study, 6)
    assert predict(str(path), "--state-dir", str(state), "--cost", cost) == 1
    assert "--cost must be a positive finite number" in capsys.readouterr().err


def test_a_real_local_study(
    write_study: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`carbs run` with real subprocess trials, then `carbs predict` on what it stored."""
    # lr and x held near their optima, so the loss is ~1/size and every dearer trial that
    # tries a new size extends the frontier, whatever path the search takes.
    path = write_study(
        budget={"maxTrials": 12, "maxFailedTrials": 2}, parallelism=1,
        carbs={"seed": 0, "initialSearchRadius": 1.0},
        parameters=[
            {"name": "lr", "space": "log", "min": 9e-3, "max": 1.1e-2, "searchCenter": 1e-2},
            {"name": "x", "space": "linear", "min": 0.29, "max": 0.31, "searchCenter": 0.3},
            {"name": "size", "space": "log", "min": 1, "max": 1000, "integer": True,
             "searchCenter": 10},
        ])
    state = path.parent / "state"
    assert main(["run", str(path), "--state-dir", str(state), "--device", "cpu"]) == 0
    capsys.readouterr()
    with TrialStore(state / "quad.db") as store:
        largest = max(t.cost or 0.0 for t in store.trials())
    code = predict(str(path), "--state-dir", str(state), "--cost", str(10 * largest), "--json")
    out = capsys.readouterr().out
    assert code == 0, out
    document = json.loads(out)
    assert document["extrapolation"] == pytest.approx(10.0)
    assert isinstance(document["params"]["size"], int)
    assert 1 <= document["params"]["size"] <= 1000
