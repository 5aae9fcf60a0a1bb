"""The files and Python names the README and the guide mention in prose exist.

A code span naming a repository path (`examples/digits-mlp/study.yaml`,
`tests/k8s/test_kubectl_walkthrough.py`, or a test as `path::name`) must be there, and
one naming a module or an attribute of either package (`carbs_operator.study_view`,
`carbs_optimizer.discrete`) must import: a module moved or renamed fails here until the
page follows it. architecture.md has its own test (tests/test_architecture_doc.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import re

from tests.docs.guide import REPO, code_spans, pages

TOP = ("operator/", "optimizer/", "tests/", "examples/", "charts/", "crds/", "benchmarks/",
       "docs/", ".ci/")
DOTTED = re.compile(r"(carbs_operator|carbs_optimizer)(\.[A-Za-z_]\w*)+")


def words() -> list[tuple[str, str]]:
    return [(page.name, word.rstrip(":,;)")) for page in pages()
            if page.name != "architecture.md"
            for span in code_spans(page) for word in span.split()]


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except ModuleNotFoundError:  # a name inside a module, not a submodule
            continue
        obj = importlib.import_module(name)
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def test_every_repository_path_named_exists() -> None:
    named = [(page, word) for page, word in words() if word.startswith(TOP)]
    assert len(named) >= 20
    missing = []
    for page, word in named:
        path, _, test = word.partition("::")
        if not (REPO / path).exists():
            missing.append(f"{page}: {word}")
        elif test and f"def {test}(" not in (REPO / path).read_text(encoding="utf-8"):
            missing.append(f"{page}: {word} (no such test)")
    assert missing == []


def test_every_module_or_attribute_named_imports() -> None:
    named = [(page, word) for page, word in words() if DOTTED.fullmatch(word)]
    assert len(named) >= 5
    missing = [f"{page}: {word}" for page, word in named if not resolves(word)]
    assert missing == []
