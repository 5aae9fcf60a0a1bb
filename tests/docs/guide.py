"""The README and the guide's pages, read as a test reads them: fenced blocks and code spans.

A block's check is chosen by its language tag; an HTML comment on the line just above the
fence (invisible on GitHub and in the built guide) can say more:

- `<!-- docs: fragment -->` above a `python` block: it holds `...` or names defined
  elsewhere, so it is compiled, not run;
- `<!-- readme-tune-notebook: ... -->`: the README's tune() example, which
  tests/tuning/test_readme_example.py runs as a notebook cell and
  tests/tuning/test_readme_in_a_shell.py pastes at Python's prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
FRAGMENT = "<!-- docs: fragment -->"
NOTEBOOK = "<!-- readme-tune-notebook"


def pages() -> list[Path]:
    """The README and every Markdown page of the guide."""
    return [README, *sorted(DOCS.glob("*.md"))]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int      # 1-based line of the opening fence
    lang: str      # the fence's tag, "" when untagged
    text: str
    marker: str    # the HTML comment on the line above the fence, or ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


FENCE = re.compile(r"^```(\S*)\s*$")


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if opened is None:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            i += 1
        assert i < len(lines), f"{page}:{start + 1}: a fence that is never closed"
        above = lines[start - 1].strip() if start > 0 else ""
        marker = above if above.startswith("<!--") else ""
        found.append(Block(page, start + 1, opened.group(1), "\n".join(lines[start + 1:i]),
                           marker))
        i += 1
    return found


def all_blocks(lang: str | None = None) -> list[Block]:
    return [b for page in pages() for b in blocks(page) if lang is None or b.lang == lang]


def prose(page: Path) -> str:
    """The page without its fenced blocks."""
    text = page.read_text(encoding="utf-8")
    return re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.DOTALL | re.MULTILINE)


def code_spans(page: Path) -> list[str]:
    """Every inline `code span` of the page's prose (single backticks)."""
    return re.findall(r"(?<!`)`([^`\n]+)`(?!`)", prose(page))
