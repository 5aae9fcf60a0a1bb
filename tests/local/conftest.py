"""A small study around quadratic_trial.py, written to a temporary directory."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.builders import quad_manifest

HERE = Path(__file__).parent


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[..., Path]:
    """Writes a manifest beside a copy of quadratic_trial.py; returns the manifest path."""
    shutil.copy(HERE / "quadratic_trial.py", tmp_path / "quadratic_trial.py")

    def write(**kwargs: Any) -> Path:
        path = tmp_path / "study.yaml"
        path.write_text(yaml.safe_dump(quad_manifest(**kwargs)), encoding="utf-8")
        return path

    return write


def finished_trials(db: Path) -> int:
    """Succeeded + failed trials in a runner's state, read while the runner may be writing
    (0 before the database or its schema exists)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            row = connection.execute(
                "SELECT COUNT(*) FROM trials WHERE phase IN ('Succeeded', 'Failed')"
            ).fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    return int(row[0])


# `carbs run` as started from a terminal, where Ctrl-C raises KeyboardInterrupt. A process
# inherits an ignored SIGINT (a test suite started in the background of a non-interactive
# shell has one) and Python then installs no handler: the runner ignored the test's SIGINT
# and finished the study. The wrapper installs Python's own handler first.
_AS_FROM_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'carbs'; runpy.run_module('carbs_operator.cli', run_name='__main__')"
)


def carbs_run(study: Path, state: Path, log: Path) -> subprocess.Popen[bytes]:
    """A real `carbs run` in its own process (to be killed), its trials logging to `log`."""
    env = {**os.environ, "TRIAL_LOG": str(log)}
    return subprocess.Popen(
        [sys.executable, "-c", _AS_FROM_A_TERMINAL, "run", str(study), "--state-dir",
         str(state), "--device", "cpu"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
