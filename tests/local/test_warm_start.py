"""`carbs run --warm-start OTHER.yaml`: a second local study starts from the first's trials."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from tests.local.conftest import HERE
from tests.support.builders import quad_manifest


def _carbs(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbs_operator.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_a_larger_study_starts_from_the_cheap_one(tmp_path: Path) -> None:
    shutil.copy(HERE / "quadratic_trial.py", tmp_path / "quadratic_trial.py")
    cheap = quad_manifest("cheap", budget={"maxTrials": 6, "maxFailedTrials": 2})
    (tmp_path / "cheap.yaml").write_text(yaml.safe_dump(cheap))
    # The larger study searches lr and size only (x fixed), with a wider size range.
    large = quad_manifest("large", budget={"maxTrials": 2, "maxFailedTrials": 2})
    large["spec"]["parameters"] = [p for p in large["spec"]["parameters"] if p["name"] != "x"]
    large["spec"]["parameters"][1]["max"] = 10000
    container = large["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["--lr=${params.lr}", "--x=0.3", "--size=${params.size}"]
    (tmp_path / "large.yaml").write_text(yaml.safe_dump(large))

    first = _carbs("run", "cheap.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = _carbs("run", "large.yaml", "--warm-start", "cheap.yaml", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "warm start: 6 trial(s) observed, 0 skipped" in second.stdout
    with sqlite3.connect(tmp_path / ".carbs" / "large.db") as db:
        kinds = [row[0] for row in db.execute(
            "SELECT suggestion_kind FROM trials ORDER BY idx")]
    # Six observations already: no random phase (numRandomSamples is 4).
    assert len(kinds) == 2
    assert "random" not in kinds
    # A study that does not warm start begins at random, as before.
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump({**large, "metadata": {
        "name": "plain"}}))
    plain = _carbs("run", "plain.yaml", cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "warm start" not in plain.stdout
    with sqlite3.connect(tmp_path / ".carbs" / "plain.db") as db:
        assert [row[0] for row in db.execute(
            "SELECT suggestion_kind FROM trials ORDER BY idx")] == ["random", "random"]
