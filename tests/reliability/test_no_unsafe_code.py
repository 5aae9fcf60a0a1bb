"""No pickle, eval, exec or shell anywhere in the shipped packages: an AST scan.

State is JSON (the engine's to_state/from_state, the trial records), manifests are read with
a SafeLoader, and commands run as argv lists. This scan keeps it so: it walks every module
of carbs_optimizer and carbs_operator and refuses

- importing pickle, cPickle, dill, marshal, shelve, jsonpickle or joblib;
- calling eval, exec, compile (the builtins) or __import__;
- torch.save / torch.load (pickle underneath), numpy.load with allow_pickle=True;
- yaml.load / load_all without a SafeLoader (or a subclass defined beside it),
  yaml.unsafe_load, yaml.full_load, yaml.Loader / UnsafeLoader / FullLoader;
- subprocess calls with shell=True, os.system, os.popen, os.exec*/os.spawn* with a shell.

A second test runs the scanner on a module holding each of these, so it cannot rot into
one that finds nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [ROOT / "optimizer" / "carbs_optimizer", ROOT / "operator" / "carbs_operator"]

PICKLING_MODULES = {"pickle", "cPickle", "_pickle", "dill", "marshal", "shelve", "jsonpickle",
                    "joblib", "cloudpickle"}
DYNAMIC_BUILTINS = {"eval", "exec", "compile", "__import__"}
UNSAFE_CALLS = {
    "torch.save", "torch.load", "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load",
    "yaml.full_load_all", "os.system", "os.popen", "os.execl", "os.execlp", "os.execle",
    "os.execv", "os.execvp", "os.execvpe", "os.spawnl", "os.spawnlp", "os.spawnv",
    "os.spawnvp", "pty.spawn", "commands.getoutput",
}
UNSAFE_LOADERS = {"Loader", "UnsafeLoader", "FullLoader", "CLoader", "CUnsafeLoader",
                  "CFullLoader"}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
SHELL_CALLS = {"subprocess.run", "subprocess.call", "subprocess.check_call",
               "subprocess.check_output", "subprocess.Popen", "subprocess.getoutput",
               "subprocess.getstatusoutput", "asyncio.create_subprocess_shell"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _dotted(node: ast.AST) -> str:
    """`a.b.c` for an attribute chain or a name; '' for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}  # local name -> module or module.attr it stands for
        self.safe_loader_classes: set[str] = set()

    def _found(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), what))

    def _resolve(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        full = self.aliases.get(head, head)
        return f"{full}.{rest}" if rest else full

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in PICKLING_MODULES:
                self._found(node, f"imports {alias.name}")
            self.aliases[alias.asname or alias.name.split(".")[0]] = \
                alias.name if alias.asname else alias.name.split(".")[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module.split(".")[0] in PICKLING_MODULES:
            self._found(node, f"imports from {module}")
        for alias in node.names:
            full = f"{module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = full
            if full in UNSAFE_CALLS or (module == "yaml" and alias.name in UNSAFE_LOADERS):
                self._found(node, f"imports {full}")
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            name = self._resolve(_dotted(base))
            if name.rpartition(".")[2] in SAFE_LOADERS or name in self.safe_loader_classes:
                self.safe_loader_classes.add(node.name)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self._resolve(_dotted(node))
        if name.startswith("yaml.") and name.rpartition(".")[2] in UNSAFE_LOADERS:
            self._found(node, f"uses {name}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self._resolve(_dotted(node.func))
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if isinstance(node.func, ast.Name) and node.func.id in DYNAMIC_BUILTINS \
                and node.func.id not in self.aliases:
            self._found(node, f"calls {node.func.id}()")
        if name in UNSAFE_CALLS:
            self._found(node, f"calls {name}()")
        if name in ("yaml.load", "yaml.load_all"):
            loader = keywords.get("Loader") or (node.args[1] if len(node.args) > 1 else None)
            loader_name = self._resolve(_dotted(loader)) if loader is not None else ""
            if not (loader_name.rpartition(".")[2] in SAFE_LOADERS
                    or loader_name in self.safe_loader_classes):
                self._found(node, f"calls {name}() without a SafeLoader ({loader_name or 'none'})")
        shell = keywords.get("shell")
        if (name in SHELL_CALLS or name.startswith("subprocess.")) and shell is not None and \
                not (isinstance(shell, ast.Constant) and shell.value is False):
            self._found(node, f"calls {name}(shell=...)")
        if name == "asyncio.create_subprocess_shell":
            self._found(node, f"calls {name}()")
        allow_pickle = keywords.get("allow_pickle")
        if name == "numpy.load" and isinstance(allow_pickle, ast.Constant) and \
                allow_pickle.value is True:
            self._found(node, "calls numpy.load(allow_pickle=True)")
        self.generic_visit(node)


def scan_source(source: str, path: str) -> list[Finding]:
    scanner = _Scanner(path)
    scanner.visit(ast.parse(source, filename=path))
    return scanner.findings


def modules() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted(package.rglob("*.py"))


# The one place user code runs by design: tune() ships the caller's own function source to
# the caller's own trial, which runs it there, as `carbs run` runs the caller's training
# script. (path, finding) -> why; nothing joins this without a reason of the same kind.
ALLOWED = {
    ("operator/carbs_operator/tuning/trial.py", "calls compile()"):
        "compiles the function source the caller's tune() shipped, in the caller's trial",
    ("operator/carbs_operator/tuning/trial.py", "calls exec()"):
        "runs that source as a module of the trial process",
    ("operator/carbs_operator/tuning/shipping.py", "calls compile()"):
        "compiles a prompt-typed function's history only to compare it with the function's "
        "own code object; it is never run",
}


def test_the_packages_hold_no_pickle_eval_or_shell() -> None:
    files = list(modules())
    assert len(files) > 30, files  # both packages were found
    findings = [f for path in files
                for f in scan_source(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    unexpected = [f for f in findings if (f.path, f.what) not in ALLOWED]
    assert unexpected == [], "\n".join(map(str, unexpected))
    assert {(f.path, f.what) for f in findings} == set(ALLOWED), "an allowance is stale"


PLANTED = {
    "import pickle": "imports pickle",
    "import dill as d": "imports dill",
    "from marshal import loads": "imports from marshal",
    "eval('1')": "calls eval()",
    "exec('x = 1')": "calls exec()",
    "compile('1', 'f', 'eval')": "calls compile()",
    "__import__('os')": "calls __import__()",
    "import torch\ntorch.save({}, 'f')": "calls torch.save()",
    "import torch as t\nt.load('f')": "calls torch.load()",
    "from torch import load\nload('f')": "imports torch.load",
    "import yaml\nyaml.load('a')": "calls yaml.load() without a SafeLoader (none)",
    "import yaml\nyaml.load('a', Loader=yaml.Loader)": "uses yaml.Loader",
    "import yaml\nyaml.load_all('a', yaml.FullLoader)": "uses yaml.FullLoader",
    "import yaml\nyaml.unsafe_load('a')": "calls yaml.unsafe_load()",
    "import yaml\nyaml.full_load('a')": "calls yaml.full_load()",
    "import subprocess\nsubprocess.run('ls', shell=True)": "calls subprocess.run(shell=...)",
    "import subprocess as sp\nsp.Popen('ls', shell=flag)": "calls subprocess.Popen(shell=...)",
    "from subprocess import check_output\ncheck_output('ls', shell=True)":
        "calls subprocess.check_output(shell=...)",
    "import os\nos.system('ls')": "calls os.system()",
    "import os\nos.popen('ls')": "calls os.popen()",
    "import numpy as np\nnp.load('f', allow_pickle=True)": "calls numpy.load(allow_pickle=True)",
    "import asyncio\nasyncio.create_subprocess_shell('ls')":
        "calls asyncio.create_subprocess_shell()",
}


@pytest.mark.parametrize("source", list(PLANTED))
def test_the_scanner_finds_each_planted_pattern(source: str) -> None:
    assert PLANTED[source] in [f.what for f in scan_source(source, "planted.py")]


@pytest.mark.parametrize("source", [
    "import yaml\nyaml.load('a', Loader=yaml.SafeLoader)",
    "import yaml\nclass L(yaml.SafeLoader): pass\nyaml.load_all('a', Loader=L)",
    "import yaml\nyaml.safe_load('a')",
    "import subprocess, sys\nsubprocess.Popen([sys.executable, '-V'], shell=False)",
    "import re\nre.compile('x')",
    "model.eval()",
    "import json\njson.loads('{}')",
])
def test_the_scanner_lets_safe_code_pass(source: str) -> None:
    assert scan_source(source, "safe.py") == []
