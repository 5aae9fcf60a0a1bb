"""docs/architecture.md names every module of both packages, and no module that is gone.

The module map is the first thing a newcomer reads; a map that misses a module, or lists
one that moved, misleads more than none. Each package has its own section (a `###` heading
naming the package's folder), with one table row per module, its path relative to the
package in backticks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("optimizer/carbs_optimizer", "operator/carbs_operator")
ROW = re.compile(r"^\| `(?P<path>[\w/]+\.py)` \|", re.MULTILINE)


def modules(package: str) -> set[str]:
    root = ROOT / package
    return {p.relative_to(root).as_posix() for p in root.rglob("*.py")
            if "__pycache__" not in p.parts}


def section(package: str) -> str:
    """The text under `### <package>`, up to the next heading of that level or above."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^### {re.escape(package)}\n(?P<body>.*?)(?=^#{{1,3}} |\Z)", text,
                      re.MULTILINE | re.DOTALL)
    assert match, f"docs/architecture.md has no section '### {package}'"
    return match["body"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_has_a_line(package: str) -> None:
    listed = set(ROW.findall(section(package)))
    missing = sorted(modules(package) - listed)
    assert missing == [], f"add a line for each to docs/architecture.md ({package}): {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_line_names_a_module_that_is_gone(package: str) -> None:
    listed = ROW.findall(section(package))
    assert len(listed) == len(set(listed)), "a module is listed twice"
    gone = sorted(set(listed) - modules(package))
    assert gone == [], f"remove (or rename) in docs/architecture.md ({package}): {gone}"


def test_each_line_says_something() -> None:
    for package in PACKAGES:
        for line in section(package).splitlines():
            if ROW.match(line):
                description = line.split("|")[2].strip()
                assert len(description) > 20, line
