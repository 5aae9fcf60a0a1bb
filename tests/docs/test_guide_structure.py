"""The guide builds strictly, and the README's links land on pages and headings that exist.

`make test` builds the guide with Sphinx (warnings as errors) before pytest runs; the same
build runs here, so a broken page fails a plain `pytest tests/docs` too. Sphinx does not
read the README (it is GitHub's page), so its links are checked here, anchors included,
with GitHub's rule for a heading's anchor.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.guide import DOCS, README, REPO, all_blocks, blocks, pages, prose

KNOWN_LANGS = {"bash", "python", "yaml", "text", "{toctree}"}


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {github_anchor(m.group(1))
            for m in re.finditer(r"^#{1,6} (.+)$", prose(page), flags=re.MULTILINE)}


def test_the_guide_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    sphinx = shutil.which("sphinx-build", path=str(Path(sys.executable).parent))
    if sphinx is None:
        pytest.skip("sphinx-build is missing: `make test` installs the docs extra")
    built = subprocess.run([sphinx, "-W", "--keep-going", "-n", "-q", "-b", "html",
                            str(DOCS), str(tmp_path / "html")],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "html" / "index.html").is_file()


def test_every_link_of_the_readme_resolves() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", prose(README))
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(local) >= 15, local  # the README points into the guide
    for link in local:
        path, _, anchor = link.partition("#")
        target = (README.parent / path).resolve()
        assert target.is_file(), f"README.md links to {link}: no such file"
        assert target.is_relative_to(REPO)
        if anchor:
            assert anchor in anchors(target), f"README.md links to {link}: no such heading"


def test_every_block_is_tagged_with_a_language_the_tests_know() -> None:
    """An untagged block would escape every check below; architecture.md's diagrams and
    module map are text by nature and stay untagged there."""
    for block in all_blocks():
        if block.page.name == "architecture.md":
            continue
        assert block.lang in KNOWN_LANGS, f"{block.where}: tag the block (```{block.lang})"


def test_the_readme_keeps_what_a_newcomer_needs() -> None:
    text = README.read_text(encoding="utf-8")
    for heading in ("## Quick start", "## A study manifest, explained", "## Benchmarks"):
        assert heading in text
    commands = [b.text.strip() for b in blocks(README) if b.lang == "bash"]
    assert commands[:2] == ["make run", "make test"]
    assert any(b.text.lstrip().startswith("helm install") for b in blocks(README))
    assert any("tune(" in b.text for b in blocks(README) if b.lang == "python")
    assert "benchmarks/README.md" in text
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", text))
    assert {"index.md", "getting-started.md", "manifest.md", "reporting.md", "tune.md",
            "helm.md", "cluster.md", "benchmarks.md"} <= linked
    assert len(text.splitlines()) <= 220, "the README is the first page, not the manual"


def test_the_readme_benchmark_rows_are_the_guide_s() -> None:
    """The README's summary tables are copied from the benchmark page, row for row."""
    guide = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    rows = [line for line in prose(README).splitlines()
            if line.startswith("| ") and re.search(r"\d", line) and "docs/" not in line]
    assert len(rows) >= 4
    for row in rows:
        assert row in guide, f"not in docs/benchmarks.md: {row}"


def test_the_pages_are_all_in_the_guide_s_contents() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    listed = {line.strip() for b in blocks(DOCS / "index.md") if b.lang == "{toctree}"
              for line in b.text.splitlines() if line.strip() and not line.startswith(":")}
    assert listed == {p.stem for p in pages() if p.parent == DOCS and p.stem != "index"}
    assert index.count("```{toctree}") == 5
