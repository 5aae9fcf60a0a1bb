"""Every `yaml` block of the README and the guide passes `carbs validate`'s checks.

A block is either a whole CarbsStudy (apiVersion, kind, metadata, spec), validated as is, or
a part of one, `spec:` with some fields, which is merged into a small complete study and
then validated: so a part cannot hold a misspelt field or a value the models refuse. Any
other yaml block fails here until it gets a check of its own.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from carbs_operator.validation import load_yaml, validate_manifest
from tests.docs.guide import DOCS, Block, all_blocks

BASE: dict[str, Any] = {
    "apiVersion": "carbs.dev/v1alpha1",
    "kind": "CarbsStudy",
    "metadata": {"name": "guide-part"},
    "spec": {
        "objective": {"metric": "val_loss", "direction": "minimize"},
        "cost": {"metric": "flops"},
        "parameters": [{"name": "lr", "space": "log", "min": 1.0e-5, "max": 1.0}],
        "budget": {"maxTrials": 10},
        "trialTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "train", "image": "registry.example/train:1",
             "command": ["python", "train.py"], "args": ["--lr=${params.lr}"]}]}}}},
    },
}

YAML = all_blocks("yaml")


def merged(part: dict[str, Any]) -> dict[str, Any]:
    """BASE with the part's spec fields in place of BASE's (a field is replaced whole)."""
    study = copy.deepcopy(BASE)
    study["spec"].update(copy.deepcopy(part["spec"]))
    return study


@pytest.mark.parametrize("block", YAML, ids=[b.where for b in YAML])
def test_each_yaml_block_is_a_valid_study_or_part_of_one(block: Block) -> None:
    obj, problems = load_yaml(block.text)
    assert problems == [], f"{block.where}: {problems}"
    assert isinstance(obj, dict), f"{block.where}: not a mapping"
    if obj.get("kind") == "CarbsStudy":
        assert obj.keys() == {"apiVersion", "kind", "metadata", "spec"}, block.where
        assert validate_manifest(obj) == [], block.where
    else:
        assert obj.keys() == {"spec"}, (
            f"{block.where}: neither a CarbsStudy nor `spec:` with part of one; give it a check")
        assert validate_manifest(merged(obj)) == [], block.where


def test_the_base_study_is_valid_and_parts_are_not_waved_through() -> None:
    assert validate_manifest(BASE) == []
    typo = merged({"spec": {"earlyStoping": {"rule": "Frontier"}}})
    assert [p.path for p in validate_manifest(typo)] == ["spec.earlyStoping"]


def test_the_guide_shows_the_manifests_it_promises() -> None:
    """The README's one manifest, the manifest page's full one, and a part for each of the
    collector, early stopping and trackers (the pages that explain them)."""
    pages = {}
    for block in YAML:
        pages.setdefault(block.page.name, []).append(block)
    assert len(pages["README.md"]) == 1
    for name in ("manifest.md", "reporting.md", "early-stopping.md", "tracking.md"):
        assert name in pages, name
    assert len(pages["workloads.md"]) == 4


def test_the_error_the_manifest_page_quotes_is_what_carbs_validate_prints(
        tmp_path: Path) -> None:
    page = (DOCS / "manifest.md").read_text(encoding="utf-8")
    quoted = "`spec.parameters[0].min: must be less than max (got 5 >= 1)`"
    assert quoted in page
    study = copy.deepcopy(BASE)
    study["spec"]["parameters"][0].update({"min": 5, "max": 1, "searchCenter": 3})
    manifest = tmp_path / "study.yaml"
    manifest.write_text(yaml.safe_dump(study), encoding="utf-8")
    printed = subprocess.run([sys.executable, "-m", "carbs_operator.cli", "validate",
                              str(manifest)], capture_output=True, text=True, timeout=120)
    assert quoted.strip("`") in printed.stdout.splitlines(), printed.stdout
