"""Reported problem 5: `pip install carbs-operator` in a training image pinned torch<2.14,
gpytorch, kopf and matplotlib, and would have downgraded the image's own torch.

The project is built into a wheel and installed into a fresh virtual environment with no
package index at all: any dependency would make the install fail. Then a training script
reports its result with nothing but the standard library.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "gpytorch", "numpy", "pydantic", "kopf", "kubernetes", "matplotlib", "yaml")
TRAIN = """
import json, sys
from carbs_operator import report
from carbs_operator import sdk
report(val_loss=0.25, flops=3e9)
progress = getattr(sdk, "report_progress", None)
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"heavy": heavy, "progress": progress is not None,
                  "sdk": sorted(n for n in dir(sdk) if n.startswith("report"))}}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the sources (never inside the work tree)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("operator", "optimizer"):
        shutil.copytree(REPO / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out), str(source)], check=True, timeout=300)
    (built,) = out.glob("carbs_operator-*.whl")
    return built


def test_the_bare_distribution_installs_nothing_but_itself(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    # No index: a declared dependency could not be found, and the install would fail.
    subprocess.run([*pip, "install", "--no-index", "-q", str(wheel)], check=True, timeout=300)
    listed = subprocess.run([*pip, "list", "--format", "json"], check=True,
                            capture_output=True, text=True).stdout
    assert [p["name"] for p in json.loads(listed)] == ["carbs-operator"]
    result = tmp_path / "result.json"
    trained = subprocess.run([str(python), "-c", TRAIN.format(heavy=HEAVY)], check=True,
                             capture_output=True, text=True,
                             env={"CARBS_RESULT_FILE": str(result), "PATH": "/usr/bin:/bin"})
    seen = json.loads(trained.stdout)
    assert seen["heavy"] == []
    assert "report" in seen["sdk"]
    # Whatever the SDK offers (report_progress once it exists) is in the bare install too.
    from carbs_operator import sdk

    assert seen["sdk"] == sorted(n for n in dir(sdk) if n.startswith("report"))
    assert json.loads(result.read_text()) == {"val_loss": 0.25, "flops": 3e9}
    # The command line says what to install instead of a traceback.
    carbs = subprocess.run([str(venv / "bin" / "carbs"), "validate", "study.yaml"],
                           capture_output=True, text=True)
    assert carbs.returncode == 1
    assert "pip install 'carbs-operator[all]'" in carbs.stderr
    assert "Traceback" not in carbs.stderr


def test_the_extras_hold_the_heavy_dependencies() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == []
    extras = project["optional-dependencies"]
    engine = " ".join(extras["engine"])
    assert "torch" in engine
    assert "gpytorch" in engine
    full = " ".join(extras["all"])
    assert "carbs-operator[engine]" in full
    for name in ("kopf", "kubernetes", "pydantic", "matplotlib"):
        assert name in full
