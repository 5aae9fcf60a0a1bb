"""tune() on this machine: a notebook-defined function and a script's `__main__` function run
as real trial subprocesses under the local runner, and the result object reads the study.

Real: the local runner, its launcher and SQLite state, the engine, the trial entry point
(`python -m carbs_operator.tuning.trial`). Simulated: only the notebook kernel
(tests/tuning/notebook.py does what IPython does with a cell's source).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from carbs_operator import load_study, tune
from carbs_operator.local.store import StoreError
from carbs_operator.tuning.shipping import ShippingError
from carbs_operator.validation import ManifestError
from tests.tuning.notebook import Kernel

ROOT = Path(__file__).resolve().parents[2]
PARAMETERS: list[dict[str, Any]] = [
    {"name": "lr", "space": "log", "min": 1e-4, "max": 1.0, "searchCenter": 1e-3},
    {"name": "width", "space": "log", "min": 4, "max": 256, "integer": True, "searchCenter": 16},
]
CELL_DEFINE = '''
import math
import json as js
TARGET = {"lr": 0.01}
SCALE = 2.0

def penalty(width):
    return 1.0 / width

def train(params):
    from carbs_operator import report_progress
    loss = (math.log10(params["lr"]) - math.log10(TARGET["lr"])) ** 2 + penalty(params["width"])
    for step in range(3):
        report_progress(step, loss=loss + (3 - step) * 0.1, flops=params["width"] * (step + 1))
    return {"loss": loss * SCALE / 2.0, "flops": float(params["width"]) * 3}
'''


def run_tune(kernel: Kernel, tmp_path: Path, **extra: str) -> None:
    extras = "".join(f", {key}={value}" for key, value in extra.items())
    kernel.namespace["state"] = str(tmp_path / "state")
    kernel.run_cell(
        "from carbs_operator import tune\n"
        f"result = tune(train, parameters={PARAMETERS!r},\n"
        "    objective={'metric': 'loss', 'direction': 'minimize'}, cost={'metric': 'flops'},\n"
        "    budget={'maxTrials': 5}, parallelism=2, carbs={'seed': 1}, state_dir=state,\n"
        f"    progress=False{extras})\n")


def test_a_notebook_function_runs_as_subprocess_trials_and_the_result_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    kernel = Kernel()
    kernel.run_cell(CELL_DEFINE)
    run_tune(kernel, tmp_path)
    result = kernel.namespace["result"]
    assert len(result.records) == 5
    assert all(t.phase.value == "Succeeded" for t in result.records), result.records
    # Each trial was its own process, started by the runner's launcher.
    pids = {json.loads((tmp_path / "state" / "train" / f"trial-{i}" / "command.json")
                       .read_text())["pid"] for i in range(5)}
    assert len(pids) == 5
    assert os.getpid() not in pids
    # The dict fn returned is the result; report_progress() inside fn fed the curve.
    best = result.best
    assert best is not None
    expected = ((__import__("math").log10(best.params["lr"]) + 2) ** 2
                + 1.0 / best.params["width"])
    assert best.objective == pytest.approx(expected)
    assert best.cost == pytest.approx(3.0 * best.params["width"])
    assert all(len(t.curve) == 3 for t in result.records)
    frontier = result.frontier
    assert list(frontier.columns[:4]) == ["trial", "phase", "loss", "cost"]
    assert best.index in set(frontier["trial"])
    assert [law.parameter for law in result.laws] == ["lr", "width"]
    # predict() is `carbs predict`'s function on the same records: same answer or same
    # refusal (five trials may not carry a law).
    from carbs_operator.scaleup.predict import PredictionRefusedError, predict_scale_up

    cost = 10 * max(t.cost or 0.0 for t in result.records)
    try:
        predicted: Any = predict_scale_up(result.spec, result.records, cost).to_json()
    except PredictionRefusedError as refused:
        predicted = str(refused)
    try:
        got: Any = result.predict(cost).to_json()
    except PredictionRefusedError as refused:
        got = str(refused)
    assert got == predicted
    figure = result.plot(str(tmp_path / "plot.png"))
    assert (tmp_path / "plot.png").stat().st_size > 1000
    assert figure.axes
    # Stored as any local study: the carbs commands read it from its manifest.
    manifest = tmp_path / "state" / "train.yaml"
    shown = subprocess.run(
        [sys.executable, "-m", "carbs_operator.cli", "frontier", str(manifest),
         "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, check=True, timeout=120)
    assert "Pareto frontier" in shown.stdout
    again = load_study("train", state_dir=tmp_path / "state")
    assert [t.index for t in again.records] == [t.index for t in result.records]
    assert again.best == best
    assert load_study(manifest, state_dir=tmp_path / "state").best == best
    # A second call under the same name resumes: the study is complete, nothing runs again.
    run_tune(kernel, tmp_path)
    assert len(kernel.namespace["result"].records) == 5


def test_a_script_main_function_ships_by_its_file_and_the_main_block_does_not_rerun(
    tmp_path: Path,
) -> None:
    (tmp_path / "helpers.py").write_text("def shift(x):\n    return x - 0.25\n")
    script = tmp_path / "search.py"
    script.write_text(textwrap.dedent(f'''
        import math
        import threading
        from helpers import shift
        from carbs_operator import report, tune

        LOCK = threading.Lock()  # unshippable, but the script travels whole

        def train(params):
            with LOCK:
                report(loss=shift(math.log10(params["lr"])) ** 2, flops=params["width"])

        if __name__ == "__main__":
            result = tune(train, parameters={PARAMETERS!r},
                          objective={{"metric": "loss", "direction": "minimize"}},
                          cost={{"metric": "flops"}}, budget={{"maxTrials": 3}},
                          parallelism=1, progress=False, name="script-study")
            print("PHASES", sorted({{t.phase.value for t in result.records}}))
    '''))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator") + os.pathsep + str(
        ROOT / "optimizer")}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PHASES ['Succeeded']" in done.stdout
    result = load_study("script-study", state_dir=tmp_path / ".carbs")
    assert len(result.records) == 3


def test_a_failing_function_fails_its_trial_with_the_traceback_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    kernel = Kernel()
    kernel.run_cell("def train(params):\n    raise ValueError('diverged at lr')\n")
    run_tune(kernel, tmp_path)
    records = kernel.namespace["result"].records
    assert {t.phase.value for t in records} == {"Failed"}
    assert "ValueError: diverged at lr" in (records[0].failure_reason or "")
    assert kernel.namespace["result"].best is None


def test_bad_values_name_the_manifest_field(tmp_path: Path) -> None:
    def train(params: dict[str, float]) -> float:
        return params["lr"]

    with pytest.raises(ManifestError) as raised:
        tune(train, parameters=[{"name": "lr", "space": "log", "min": 1.0, "max": 0.1}],
             objective={"metric": "loss", "direction": "down"}, cost={"metric": "flops"},
             budget={"maxTrials": 0}, state_dir=tmp_path)
    paths = {problem.path for problem in raised.value.problems}
    assert "spec.objective.direction" in paths
    assert "spec.budget.maxTrials" in paths
    assert any(path.startswith("spec.parameters[0]") for path in paths), paths


def test_unshippable_globals_and_lambdas_are_refused_before_any_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    kernel = Kernel()
    kernel.run_cell("import threading\nLOCK = threading.Lock()\n"
                    "def train(params):\n    with LOCK:\n        return params['lr']\n")
    with pytest.raises(ShippingError, match=r"global 'LOCK' \(a _thread.lock\)"):
        run_tune(kernel, tmp_path)
    kernel.run_cell("train = lambda params: params['lr']\n")
    with pytest.raises(ShippingError, match="lambda"):
        run_tune(kernel, tmp_path)
    assert not (tmp_path / "state").exists()


def test_a_closure_over_plain_values_ships_and_one_over_an_object_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carbs_operator.tuning.shipping import ship

    def make(offset: float, data: object) -> Any:
        def train(params: dict[str, float]) -> float:
            return params["lr"] + offset + (0 if data is None else 1)
        return train

    shipped = ship(make(0.5, None), "loss")
    assert shipped["kind"] == "source"
    assert "offset = 0.5" in shipped["source"]
    assert "data = None" in shipped["source"]
    with pytest.raises(ShippingError, match="closure variable 'data'"):
        ship(make(0.5, object()), "loss")


def test_another_search_under_the_same_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    kernel = Kernel()
    kernel.run_cell("def train(params):\n    return {'loss': params['lr'], 'flops': 1.0}\n")
    kernel.namespace["state"] = str(tmp_path / "state")
    kernel.run_cell(
        "from carbs_operator import tune\n"
        "tune(train, parameters=[{'name': 'lr', 'space': 'log', 'min': 1e-3, 'max': 1.0}],\n"
        "     objective={'metric': 'loss', 'direction': 'minimize'}, cost={'metric': 'flops'},\n"
        "     budget={'maxTrials': 1}, state_dir=state, progress=False)\n")
    with pytest.raises(StoreError, match="parameters"):
        kernel.run_cell(
            "tune(train, parameters=[{'name': 'lr', 'space': 'log', 'min': 1e-4, 'max': 1.0}],\n"
            "     objective={'metric': 'loss', 'direction': 'minimize'},\n"
            "     cost={'metric': 'flops'}, budget={'maxTrials': 1}, state_dir=state,\n"
            "     progress=False)\n")


def test_timeout_seconds_fails_a_trial_that_runs_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    kernel = Kernel()
    kernel.run_cell("import time\ndef train(params):\n    time.sleep(60)\n")
    kernel.namespace["state"] = str(tmp_path / "state")
    kernel.run_cell(
        "from carbs_operator import tune\n"
        "result = tune(train, parameters=[{'name': 'lr', 'space': 'log', 'min': 1e-3,\n"
        "    'max': 1.0}], objective={'metric': 'loss', 'direction': 'minimize'},\n"
        "    cost={'source': 'runtimeSeconds'}, budget={'maxTrials': 1}, timeout_seconds=2,\n"
        "    state_dir=state, progress=False)\n")
    [trial] = kernel.namespace["result"].records
    assert trial.phase.value == "Failed"
    assert "timed out after 2 s" in (trial.failure_reason or "")


def test_a_killed_tune_resumes_and_no_trial_runs_twice(tmp_path: Path) -> None:
    """The script's Python process is killed (SIGKILL) while trials run; the same script
    again adopts them and finishes the study, as `carbs run` does."""
    script = tmp_path / "search.py"
    script.write_text(textwrap.dedent(f'''
        import os
        import time
        from carbs_operator import tune

        def train(params):
            with open("starts.log", "a") as log:
                log.write(os.environ["CARBS_TRIAL"] + "\\n")
            time.sleep(3)
            return {{"loss": params["lr"], "flops": float(params["width"])}}

        if __name__ == "__main__":
            result = tune(train, parameters={PARAMETERS!r},
                          objective={{"metric": "loss", "direction": "minimize"}},
                          cost={{"metric": "flops"}}, budget={{"maxTrials": 4}},
                          parallelism=2, progress=False)
            print("PHASES", [t.phase.value for t in result.records])
    '''))
    first = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    starts = tmp_path / "starts.log"
    deadline = time.monotonic() + 120
    while not (starts.exists() and starts.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline
        assert first.poll() is None
        time.sleep(0.1)
    first.kill()
    first.wait()
    again = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "PHASES ['Succeeded', 'Succeeded', 'Succeeded', 'Succeeded']" in again.stdout
    started = starts.read_text().split()
    assert sorted(started) == sorted(set(started))  # no index ran twice
    assert len(started) == 4
