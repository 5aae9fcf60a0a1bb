"""The `carbs` command: validate, crds, demo, and the console script itself."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

from carbs_operator import crd
from carbs_operator.cli import SUBCOMMANDS, Subcommand, main, register
from tests.operator.manifest_cases import Case

CARBS = Path(sys.executable).parent / "carbs"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "examples/digits-mlp/study.yaml"]) == 0
    assert capsys.readouterr().out == "examples/digits-mlp/study.yaml: valid\n"


def test_validate_prints_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = Case("x", {"spec.parameters[0].min": 5, "spec.parameters[0].searchCenter": 0.5,
                     "spec.parallelism": 0}).manifest()
    path = _write(tmp_path, yaml.safe_dump(obj))
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "spec.parameters[0].min: must be less than max (got 5 >= 1)",
        "spec.parameters[0].searchCenter: must lie within [min, max] = [5, 1] (got 0.5)",
        "spec.parallelism: must be greater than or equal to 1 (got 0)",
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("spec: [", "invalid YAML at line 1"),
    ("- a\n- b\n", "expected a mapping"),
])
def test_validate_bad_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    assert main(["validate", str(_write(tmp_path, text))]) == 1
    assert expected in capsys.readouterr().out


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().out


def test_crds_prints_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds"]) == 0
    assert list(yaml.safe_load_all(capsys.readouterr().out)) == crd.all_crds()


def test_crds_write(tmp_path: Path) -> None:
    assert main(["crds", "--write", str(tmp_path)]) == 0
    for definition in crd.all_crds():
        assert (tmp_path / crd.file_name(definition)).read_text() == crd.to_yaml(definition)


def test_usage_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["validate"]) == 2
    assert main(["crds", "--bogus"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out


def test_demo_passes_its_arguments_through(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def demo_main(argv: list[str]) -> int:
        seen.append(argv)
        return 0

    fake = types.ModuleType("carbs_optimizer.demo")
    fake.main = demo_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "carbs_optimizer.demo", fake)
    assert main(["demo", "--trials", "3"]) == 0
    assert seen == [["--trials", "3"]]


def test_demo_reports_a_missing_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "carbs_optimizer.demo", None)
    assert main(["demo"]) == 1
    assert "carbs demo is unavailable" in capsys.readouterr().err


def test_registering_a_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("carbs_operator.cli.SUBCOMMANDS", dict(SUBCOMMANDS))

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--n", type=int, default=1)

    register(Subcommand("echo", "test", configure, lambda args: args.n + 40))
    assert main(["echo", "--n", "2"]) == 42
    with pytest.raises(ValueError, match="already registered"):
        register(Subcommand("echo", "test", configure, lambda args: 0))


def test_console_script(tmp_path: Path) -> None:
    good = subprocess.run([str(CARBS), "validate", "examples/digits-mlp/study.yaml"],
                          capture_output=True, text=True, check=False)
    assert (good.returncode, good.stdout) == (0, "examples/digits-mlp/study.yaml: valid\n")
    bad = _write(tmp_path, yaml.safe_dump(Case("x", {"spec.cost.source": "gpuSeconds"}).manifest()))
    out = subprocess.run([str(CARBS), "validate", str(bad)], capture_output=True, text=True,
                         check=False)
    assert (out.returncode, out.stdout) == (1, "spec.cost: set exactly one of metric and source\n")
