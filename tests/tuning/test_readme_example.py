"""The README's notebook example, run as a notebook cell would run it, so it cannot drift.

The block is the one after the `readme-tune-notebook` marker; it runs unchanged in a fresh
folder (its state goes to ./.carbs there), through tests/tuning/notebook.py's kernel.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.tuning.notebook import Kernel

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- readme-tune-notebook"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    after = text[text.index(MARKER):]
    found = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert found is not None, "no python block after the marker"
    return found.group(1)


def test_the_readme_notebook_example_runs_and_finds_a_frontier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    source = readme_example()
    assert len(source.strip().splitlines()) <= 13
    kernel = Kernel()
    kernel.run_cell(source)
    result = kernel.namespace["result"]
    assert len(result.records) == 8
    assert {t.phase.value for t in result.records} == {"Succeeded"}
    assert len(result.frontier) >= 1
    assert result.best.params.keys() == {"lr", "width"}
    assert (tmp_path / ".carbs" / "train.db").is_file()
    assert "trial" in capsys.readouterr().out  # the frontier it printed
