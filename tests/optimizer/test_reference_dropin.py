"""Our engine as a drop-in for the reference CARBS: its own tests and its demo notebook's
loop run against `carbs_optimizer` through a `carbs` import shim, and a user may pickle an
engine as the reference allows.

The reference source is read from ../shared/reference-carbs beside the repository (see its
NOTES.md); the tests are skipped, saying so, where it is absent. Nothing of it is copied
into the project: its test file and the notebook's code cells are read at test time and
run in a subprocess, with the shim package first on PYTHONPATH so `import carbs` finds our
engine. The notebook's code is run as a script (no eval/exec here) because a notebook is
a script in cells; `wandb` and `loguru`, which the reference's test and demo import and
this project does not depend on, get stand-ins that do what those lines need (nothing, and
printing).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from carbs_optimizer import (
    CARBS,
    CategoricalSpace,
    LogSpace,
    ObservationInParam,
    OrdinalSpace,
    Param,
)
from tests.optimizer.conftest import fast_config

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / ".." / "shared" / "reference-carbs").resolve()
needs_reference = pytest.mark.skipif(
    not (REFERENCE / "carbs" / "test_carbs.py").exists(),
    reason=f"the reference CARBS is not at {REFERENCE} (see the repository's README)",
)

# The reference's import paths, each re-exporting our engine.
SHIM = {
    "carbs/__init__.py": (
        "from carbs_optimizer import *  # noqa: F403\n"
        "from carbs_optimizer.observations import ParamDictType  # noqa: F401\n"
    ),
    "carbs/carbs.py": "from carbs_optimizer.carbs import CARBS  # noqa: F401\n",
    "carbs/utils.py": (
        "from carbs_optimizer import *  # noqa: F403\n"
        "from carbs_optimizer.observations import ParamDictType  # noqa: F401\n"
    ),
    # The reference's test calls wandb.init() at import; our engine never logs to wandb.
    "wandb.py": "def init(*args, **kwargs):\n    return None\n",
    # The demo logs through loguru; printing is all its lines need.
    "loguru.py": (
        "import sys\n\n\n"
        "class _Logger:\n"
        "    def remove(self, *args, **kwargs):\n        pass\n\n"
        "    def add(self, *args, **kwargs):\n        pass\n\n"
        "    def info(self, message, *args, **kwargs):\n        print(message)\n\n"
        "    debug = warning = info\n\n\n"
        "logger = _Logger()\n"
    ),
}


def _shim(directory: Path) -> dict[str, str]:
    """Write the shim packages; the environment that makes `import carbs` find them."""
    for name, text in SHIM.items():
        path = directory / "shim" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    paths = [str(directory / "shim"), str(ROOT / "optimizer"), str(ROOT)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "WANDB_MODE": "disabled",
            "CARBS_TEST_DEVICE": "cpu"}


@needs_reference
def test_the_references_own_tests_pass_against_our_engine(tmp_path: Path) -> None:
    # Run from a folder of its own: beside the reference package, `import carbs` would
    # find the reference itself.
    tests = tmp_path / "reference_tests"
    tests.mkdir()
    source = (REFERENCE / "carbs" / "test_carbs.py").read_text(encoding="utf-8")
    (tests / "test_carbs.py").write_text(source, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tests), str(tests / "test_carbs.py")],
        env=_shim(tmp_path), cwd=tests, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


@needs_reference
def test_the_demo_notebooks_loop_runs_against_our_engine(tmp_path: Path) -> None:
    notebook = json.loads((REFERENCE / "carbs_demo.ipynb").read_text(encoding="utf-8"))
    cells = ["".join(cell["source"]) for cell in notebook["cells"]
             if cell["cell_type"] == "code"]
    script = tmp_path / "carbs_demo.py"
    script.write_text("\n\n".join(cells) + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], env=_shim(tmp_path), cwd=tmp_path,
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "Observation 10" in lines  # every iteration of its loop ran
    observed = [line for line in lines if line.startswith("Observed lr=")]
    assert len(observed) == 10
    assert all(" output " in line for line in observed)  # its observation/output key


def test_a_user_may_pickle_the_engine() -> None:
    """The reference drops its lock in __getstate__; so do we. The project itself never
    pickles (its state is JSON, see tests/reliability/test_no_unsafe_code.py)."""
    params = [Param("lr", LogSpace(min=1e-5, max=1.0), 1e-3),
              Param("opt", CategoricalSpace(choices=["adam", "sgd"]), "adam"),
              Param("batch", OrdinalSpace(values=[32, 64, 128]), 64)]
    engine = CARBS(fast_config(num_random_samples=2), params)
    for i in range(3):
        out = engine.suggest()
        engine.observe(ObservationInParam(out.suggestion, float(i), 1.0 + i))
    engine.suggest()
    # Loading bytes this test just wrote, as a user pickling their own engine would.
    copy = pickle.loads(pickle.dumps(engine))  # noqa: S301
    assert copy.outstanding_suggestions.keys() == engine.outstanding_suggestions.keys()
    assert copy.suggest().suggestion == engine.suggest().suggestion
    with copy._lock:  # a fresh, working lock
        copy.observe(ObservationInParam({"lr": 1e-2, "opt": "sgd", "batch": 32}, 1.0, 2.0))


def test_logs_carry_the_references_keys() -> None:
    params = [Param("lr", LogSpace(min=1e-5, max=1.0), 1e-3)]
    engine = CARBS(fast_config(num_random_samples=2), params)
    out = engine.suggest()
    for key in ("observation_count", "cumulative_cost", "failed_observation_count",
                "suggestion/lr", "suggestion/suggestion_uuid", "suggestion_kind"):
        assert key in out.log
    logs = engine.observe(ObservationInParam(out.suggestion, 0.5, 2.0)).logs
    assert logs["observation/output"] == 0.5
    assert logs["observation/cost"] == 2.0
    assert logs["observation/lr"] == out.suggestion["lr"]
    assert logs["best_observation/output"] == 0.5
    failed = engine.observe(ObservationInParam(engine.suggest().suggestion, 0.0, 1.0, True))
    assert "observation/output" not in failed.logs  # as the reference: not for a failure
    assert failed.logs["observation/is_failure"] == 1
