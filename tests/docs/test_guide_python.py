"""Every `python` block of the README and the guide runs, as a user would paste it.

A block runs in a fresh process in an empty folder, with `CARBS_RESULT_FILE` set as
`carbs run` sets it for a trial (so a `report(...)` block writes its result there). A block
marked `<!-- docs: fragment -->` holds `...` or names from around it: it is compiled,
so it is at least Python. The README's tune() example is run by tests/tuning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.guide import FRAGMENT, NOTEBOOK, REPO, Block, all_blocks

PYTHON = all_blocks("python")
RUN = [b for b in PYTHON if not b.marker]


@pytest.mark.parametrize("block", PYTHON, ids=[b.where for b in PYTHON])
def test_each_python_block_compiles_and_says_how_it_is_checked(block: Block) -> None:
    compile(block.text, block.where, "exec")
    if block.marker:
        assert block.marker == FRAGMENT or block.marker.startswith(NOTEBOOK), (
            f"{block.where}: unknown marker {block.marker}")
    if block.marker == FRAGMENT:
        assert "..." in block.text, f"{block.where}: a fragment without `...`: run it instead"


@pytest.mark.parametrize("block", RUN, ids=[b.where for b in RUN])
def test_each_python_block_runs(block: Block, tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    env = {**os.environ, "CARBS_RESULT_FILE": str(result), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", block.text], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{block.where}:\n{done.stderr[-3000:]}"
    if "report(" in block.text:
        assert json.loads(result.read_text())["val_loss"] == 0.31


def test_the_readme_tune_example_is_run_by_the_tuning_tests() -> None:
    marked = [b for b in PYTHON if b.marker.startswith(NOTEBOOK)]
    assert [b.page.name for b in marked] == ["README.md"]
    runner = (REPO / "tests" / "tuning" / "test_readme_example.py").read_text(encoding="utf-8")
    assert 'MARKER = "<!-- readme-tune-notebook"' in runner
