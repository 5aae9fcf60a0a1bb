"""The import layering of the project, checked on the source (as kopf checks that its `_cogs`
never import `_core`).

Layers, bottom up (docs/architecture.md):
- the engine, `carbs_optimizer`: no Kubernetes, no study notions, so it stays usable (and
  testable) as the reference CARBS is;
- the runtime-neutral core, every module of `carbs_operator` outside the runtimes and the
  front ends: the one place where study logic lives, so both runtimes behave the same;
- the runtimes, `carbs_operator.local` (`carbs run`) and `carbs_operator.k8s` (the operator);
- the front ends: `cli.py`, `ui/`, `tuning/`, `tracking/`, `reports/`.

Imports are read with `ast` from every `import` statement in a module, at any depth
(function-level imports included), so a lazy import cannot hide a dependency; relative
imports are resolved against the module's package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parents[1]
OPERATOR = ROOT / "operator" / "carbs_operator"
ENGINE = ROOT / "optimizer" / "carbs_optimizer"
RUNTIMES = ("carbs_operator.local", "carbs_operator.k8s")
# Outside the core: the runtimes and the front ends built on them.
NOT_CORE = (*RUNTIMES, "carbs_operator.ui", "carbs_operator.tuning", "carbs_operator.tracking",
            "carbs_operator.reports", "carbs_operator.cli", "carbs_operator.predict_command")
# The engine's public surface: the package itself (its __all__), and its laws package.
PUBLIC_ENGINE = ("carbs_optimizer", "carbs_optimizer.laws")

# Where the operator reaches past the engine's public API, as (operator module, engine
# module it imports from): none. THIS LIST MUST STAY EMPTY: widen the public API
# (`carbs_optimizer.__all__`, `carbs_optimizer.laws.__all__`) instead; it is kept so a test
# names a new violation plainly.
ENGINE_PRIVATE_IMPORTS_ALLOWED: frozenset[tuple[str, str]] = frozenset()

# Core modules that import a runtime today, as (core module, runtime module): none. THIS
# LIST MUST STAY EMPTY; it is kept so a test names a new violation plainly.
CORE_RUNTIME_IMPORTS_ALLOWED: frozenset[tuple[str, str]] = frozenset()


def module_name(path: Path) -> str:
    """carbs_operator/k8s/main.py -> carbs_operator.k8s.main; a package's __init__.py is the
    package."""
    base = OPERATOR.parent if OPERATOR in path.parents else ENGINE.parent
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


@dataclass(frozen=True)
class Import:
    """One import statement: `import a.b` is Import("a.b", ()), `from a import b, c` is
    Import("a", ("b", "c")), with relative imports made absolute."""

    module: str
    names: tuple[str, ...]
    line: int

    def targets(self) -> Iterator[str]:
        """What the statement may load: the module, and each name as a possible submodule
        (`from carbs_operator import local` loads carbs_operator.local)."""
        yield self.module
        yield from (f"{self.module}.{name}" for name in self.names)


def imports_in(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import in `source`, the text of `module`, at any depth."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*anchor, *([node.module] if node.module else [])])
            found.append(Import(origin, tuple(a.name for a in node.names), node.lineno))
    return found


@cache
def imports(path: Path) -> tuple[Import, ...]:
    return tuple(imports_in(path.read_text(encoding="utf-8"), module_name(path),
                            path.name == "__init__.py"))


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in packages)


def core_modules() -> Iterator[Path]:
    return (p for p in modules(OPERATOR) if not within(module_name(p), NOT_CORE))


def test_the_module_walk_sees_every_layer() -> None:
    """The checks below would pass vacuously over an empty or wrongly split tree."""
    core = {module_name(p) for p in core_modules()}
    assert {"carbs_operator.study", "carbs_operator.status", "carbs_operator.metrics"} <= core
    assert not any(within(name, NOT_CORE) for name in core)
    assert "carbs_operator.k8s.main" in {module_name(p) for p in modules(OPERATOR)}
    assert "carbs_optimizer.carbs" in {module_name(p) for p in modules(ENGINE)}


def test_imports_resolve_relative_and_function_level_imports() -> None:
    """The import reader itself: relative imports and one inside a function all count."""
    source = textwrap.dedent("""
        from . import trials
        from ..local import store
        def later():
            import carbs_operator.local.runner
    """)
    found = {t for i in imports_in(source, "carbs_operator.k8s.probe") for t in i.targets()}
    assert {"carbs_operator.k8s.trials", "carbs_operator.local.store",
            "carbs_operator.local.runner"} <= found


def test_the_core_never_imports_a_runtime() -> None:
    """Study logic shared by `carbs run` and the operator must not depend on either (beyond
    the listed known violations, which are to be removed, never added to)."""
    found: set[tuple[str, str]] = set()
    for path in core_modules():
        for statement in imports(path):
            if within(statement.module, RUNTIMES):
                found.add((module_name(path), statement.module))
            elif statement.module in ("carbs_operator", *RUNTIMES):
                found |= {(module_name(path), target) for target in statement.targets()
                          if within(target, RUNTIMES)}
    new = sorted(found - CORE_RUNTIME_IMPORTS_ALLOWED)
    assert new == [], f"core modules importing a runtime: {new}"
    gone = sorted(CORE_RUNTIME_IMPORTS_ALLOWED - found)
    assert gone == [], f"fixed: remove these from CORE_RUNTIME_IMPORTS_ALLOWED: {gone}"


FRONT_ENDS = ("carbs_operator.ui", "carbs_operator.tuning", "carbs_operator.reports",
              "carbs_operator.cli", "carbs_operator.predict_command")


def test_the_runtimes_never_import_each_other_and_the_operator_no_front_end() -> None:
    """`carbs run` works without kubernetes and kopf, and the operator without SQLite
    state; the operator's process loads no front end (they pull in rendering and web
    serving). `local/commands.py` is the `carbs run` command and may use reports/."""
    found: set[tuple[str, str]] = set()
    for runtime, other in (RUNTIMES, RUNTIMES[::-1]):
        barred = (other, *FRONT_ENDS) if runtime == "carbs_operator.k8s" else (other,)
        for path in modules(OPERATOR):
            if within(module_name(path), (runtime,)):
                found |= {(module_name(path), target) for i in imports(path)
                          for target in i.targets() if within(target, barred)}
    assert sorted(found) == []


def test_the_engine_never_imports_the_operator_or_kubernetes() -> None:
    found = sorted({f"{module_name(path)}:{i.line} imports {i.module}"
                    for path in modules(ENGINE) for i in imports(path)
                    if within(i.module, ("carbs_operator", "kubernetes", "kopf"))})
    assert found == []


@cache
def public_names(module: str) -> frozenset[str]:
    """The names a public engine module exports (its __all__, read from the source)."""
    path = ENGINE.parent.joinpath(*module.split("."))
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    if not source.exists():
        return frozenset()
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


def engine_private_imports() -> set[tuple[str, str]]:
    """(operator module, engine module) for every import of the engine past its public
    API: from a submodule (`from carbs_optimizer.surrogate import DTYPE`), or of a name the
    public package does not export (`from carbs_optimizer import surrogate`)."""
    found: set[tuple[str, str]] = set()
    for path in modules(OPERATOR):
        for statement in imports(path):
            origin = statement.module
            if not within(origin, ("carbs_optimizer",)):
                continue
            if origin not in PUBLIC_ENGINE:
                found.add((module_name(path), origin))
                continue
            exported = public_names(origin) | {m.rpartition(".")[2] for m in PUBLIC_ENGINE}
            found |= {(module_name(path), f"{origin}.{name}") for name in statement.names
                      if name not in exported}
    return found


def test_the_operator_uses_only_the_engines_public_api() -> None:
    """Every import of the engine goes through `carbs_optimizer` (or its laws package),
    except the listed ones, which are to be removed, never added to."""
    found = engine_private_imports()
    new = sorted(found - ENGINE_PRIVATE_IMPORTS_ALLOWED)
    assert new == [], ("new imports past the engine's public API (export the name from "
                       f"carbs_optimizer instead): {new}")
    gone = sorted(ENGINE_PRIVATE_IMPORTS_ALLOWED - found)
    assert gone == [], f"fixed: remove these from ENGINE_PRIVATE_IMPORTS_ALLOWED: {gone}"


BLOCKER = """
import importlib.abc
import sys

class Refuse(importlib.abc.MetaPathFinder):
    '''Makes rendering libraries unimportable, as in an image built without them.'''
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"rich", "matplotlib"}:
            raise ImportError(f"{name} is blocked: the operator must not need it")
        return None

sys.meta_path.insert(0, Refuse())
import carbs_operator.k8s.main
for blocked in ("rich", "matplotlib"):  # the finder worked: neither came in some other way
    try:
        __import__(blocked)
    except ImportError:
        continue
    raise SystemExit(f"{blocked} was importable: the check proves nothing")
print("imported")
"""


def test_the_operator_process_needs_neither_rich_nor_matplotlib() -> None:
    """`import carbs_operator.k8s.main` works with rich and matplotlib unimportable.
    "Works without", not "is not in sys.modules": scikit-learn imports rich where it can,
    and an ImportError there is its own business; one that reaches us is ours."""
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True,
                            timeout=300, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().endswith("imported")
