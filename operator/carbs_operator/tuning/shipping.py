"""Ship the user's training function to a trial process as data: source text, never pickle.

A trial is its own process (locally a subprocess, on a cluster a container), so the
function must travel. Pickle would tie every trial to the caller's interpreter state and
cannot carry a function defined in a notebook or a script's `__main__` at all (pickle
stores such a function by reference to `__main__`, which the trial does not have). So the
function travels as what a reviewer can read in the manifest:

- `module`: defined in an importable module (`mypkg.train.fit`): its module and qualname;
  the trial imports it (on a cluster the module must be in the image).
- `script`: defined in a script run as `__main__`: the script's whole source and path; the
  trial loads it under another module name, so its `if __name__ == "__main__":` block
  (where tune() is called) does not run again.
- `source`: defined in a notebook (IPython keeps each cell's source in linecache, which
  `inspect.getsource` reads) or any `__main__` without a file: the function's own source,
  dedented, preceded by what it uses from its globals and closure: imports for modules,
  literals for plain values (numbers, strings, lists and dicts of them), and the source of
  other functions and classes defined beside it. Anything else (a DataFrame, a tensor, an
  open file, a lock) cannot be rebuilt from text; such a global is refused with a
  ShippingError naming it, before any trial starts.

This module runs in the caller's process only; trial.py loads what it produces.
"""

from __future__ import annotations

import ast
import dis
import inspect
import json
import re
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

from carbs_operator.errors import InvalidInputError

PAYLOAD_VERSION = 1
ENV_FUNCTION = "CARBS_TUNE_FUNCTION"
# An env value is one string of the exec'd process: Linux caps one at 128 KiB.
MAX_PAYLOAD_BYTES = 100_000
# A global shipped as a literal larger than this is data, not configuration.
MAX_LITERAL_BYTES = 10_000

_LITERAL_TYPES = (type(None), bool, int, float, str)


class ShippingError(InvalidInputError, ValueError):
    """The function cannot be sent to a trial process; the message says why and what to do."""


def ship(fn: Callable[..., Any], objective_metric: str) -> dict[str, Any]:
    """The payload that trial.py turns back into `fn` (see the module docstring)."""
    if not isinstance(fn, types.FunctionType):
        raise ShippingError(
            f"fn must be a plain Python function (def ...), not {type(fn).__name__}")
    if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
        raise ShippingError("fn must be a plain function, not async or a generator")
    base = {"version": PAYLOAD_VERSION, "name": fn.__name__, "objective": objective_metric}
    module = fn.__globals__.get("__name__")
    qualname = fn.__qualname__
    if module != "__main__" and "<" not in qualname and isinstance(module, str):
        path = _import_root(sys.modules.get(module), module)
        return {**base, "kind": "module", "module": module, "qualname": qualname,
                **({"path": path} if path else {})}
    if fn.__name__ == "<lambda>":
        raise ShippingError("fn is a lambda; define it with def (its source must be readable)")
    filename = fn.__globals__.get("__file__")
    if module == "__main__" and isinstance(filename, str) and filename.endswith(".py") \
            and "<" not in qualname:
        try:
            with open(filename, encoding="utf-8") as handle:
                source = handle.read()
        except OSError as error:
            raise ShippingError(f"cannot read the script {filename}: {error}") from error
        return {**base, "kind": "script", "source": source, "filename": filename,
                "qualname": qualname}
    return {**base, "kind": "source", "source": _Bundle(fn).source()}


def encode(payload: dict[str, Any]) -> str:
    """The payload as the env value a trial reads. `$` is written as its JSON escape so the
    template's `${params.<name>}` substitution can never touch the user's source."""
    text = json.dumps(payload, sort_keys=True).replace("$", "\\u0024")
    size = len(text.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise ShippingError(
            f"the function and what it uses come to {size} bytes; the limit is "
            f"{MAX_PAYLOAD_BYTES} (one environment variable). Move it into a module "
            "and import it, or load large data inside the function")
    return text


def _import_root(module: types.ModuleType | None, name: str) -> str | None:
    """The sys.path entry `module` was imported from, so a trial can import it even when the
    caller had added that directory to sys.path by hand."""
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return None
    parts = name.split(".")
    root = file
    for _ in range(len(parts) + (1 if file.endswith("__init__.py") else 0)):
        root = root.rsplit("/", 1)[0]
    return root or None


def function_source(obj: Callable[..., Any] | type) -> str:
    """The dedented source of a function or class, from its `def`/`class` line: decorators
    are dropped (they are caller-side wrappers the trial has no use for)."""
    try:
        text = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as error:
        found = _typed_source(obj)
        if found is None:
            raise ShippingError(
                f"cannot read the source of {obj.__qualname__} ({error}): define it in a "
                "notebook cell, a script or a module") from error
        text = found
    tree = ast.parse(text)
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef | ast.ClassDef):
        raise ShippingError(f"the source of {obj.__qualname__} is not a def or class statement")
    lines = text.splitlines(keepends=True)
    return "".join(lines[node.lineno - 1:])


def _typed_source(obj: Callable[..., Any] | type) -> str | None:
    """A function typed (or pasted) at Python's own interactive prompt: the prompt keeps
    no source, but readline's history holds the lines. The last `def <name>(` block there
    is taken when, compiled, it gives the very code object the function has."""
    code = getattr(obj, "__code__", None)
    if not isinstance(code, types.CodeType) or code.co_filename != "<stdin>":
        return None
    try:
        import readline
    except ImportError:
        return None
    lines = [readline.get_history_item(i) or ""
             for i in range(1, readline.get_current_history_length() + 1)]
    header = re.compile(rf"^(async\s+)?def\s+{re.escape(code.co_name)}\s*\(")
    for start in range(len(lines) - 1, -1, -1):
        if not header.match(lines[start]):
            continue
        block = [lines[start]]
        for line in lines[start + 1:]:
            if line.strip() and not line[:1].isspace():
                break
            block.append(line)
        text = "\n".join(block).rstrip() + "\n"
        if _same_code(text, code):
            return text
    return None


def _same_code(text: str, code: types.CodeType) -> bool:
    try:
        compiled = compile(text, "<stdin>", "exec")
    except SyntaxError:
        return False
    for const in compiled.co_consts:
        if isinstance(const, types.CodeType) and const.co_name == code.co_name:
            return const.co_code == code.co_code and const.co_names == code.co_names
    return False


class _Bundle:
    """The function's source with everything it reads from its globals and closure."""

    def __init__(self, fn: types.FunctionType) -> None:
        self.imports: list[str] = []
        self.literals: list[str] = []
        self.definitions: list[str] = []
        self.seen: set[str] = set()
        self.root = fn
        self.main = self._definition(fn)

    def source(self) -> str:
        header = "# Shipped by carbs_operator.tune: the function and what it uses.\n"
        parts = [header, *self.imports, *self.literals, *self.definitions, self.main]
        return "".join(part if part.endswith("\n") else part + "\n" for part in parts)

    def _definition(self, fn: types.FunctionType) -> str:
        text = function_source(fn)
        if fn.__closure__:
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
                try:
                    value = cell.cell_contents
                except ValueError:  # an empty cell: a name assigned later in the outer def
                    raise ShippingError(
                        f"{fn.__qualname__} reads {name!r} from its enclosing function before "
                        "it is set") from None
                self._take(name, value, fn, "closure variable")
        # A name bound nowhere now is left alone: a NameError in the trial, as here.
        for name in sorted(_global_names(fn.__code__)):
            if name in fn.__globals__:
                self._take(name, fn.__globals__[name], fn, "global")
        return text

    def _take(self, name: str, value: Any, user: types.FunctionType, what: str) -> None:
        if name in self.seen:
            return
        self.seen.add(name)
        if value is self.root:
            return
        if isinstance(value, types.ModuleType):
            self.imports.append(_import_line(name, value.__name__))
            return
        literal = _literal(value)
        if literal is not None:
            self.literals.append(f"{name} = {literal}\n")
            return
        origin = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if isinstance(value, types.FunctionType | type) and isinstance(qualname, str):
            if origin not in (None, "__main__") and "<" not in qualname and \
                    "." not in qualname:
                self.imports.append(f"from {origin} import {qualname} as {name}\n"
                                    if qualname != name else f"from {origin} import {name}\n")
                return
            if origin == "__main__" and value.__name__ == name:
                if isinstance(value, types.FunctionType):
                    self.definitions.append(self._definition(value))
                else:
                    self.definitions.append(function_source(value))
                return
        if isinstance(value, types.BuiltinFunctionType) and isinstance(origin, str):
            self.imports.append(f"from {origin} import {value.__name__} as {name}\n")
            return
        kind = type(value).__module__ + "." + type(value).__qualname__
        raise ShippingError(
            f"{user.__qualname__} uses the {what} {name!r} (a {kind}), which cannot be sent "
            "to a trial process: trials run in their own processes and the function travels "
            "as source text, not as a pickle. Create or load it inside the function, pass "
            "it as a plain value (number, string, list or dict of them), or move the "
            "function into a module the trial can import")


def _global_names(code: types.CodeType) -> Iterator[str]:
    """Names the code (and the functions, comprehensions and classes inside it) reads as
    globals: LOAD_GLOBAL/LOAD_NAME, not attribute names."""
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and \
                isinstance(instruction.argval, str):
            yield instruction.argval
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _import_line(name: str, module: str) -> str:
    if name == module:
        return f"import {module}\n"
    return f"import {module} as {name}\n"


def _literal(value: Any) -> str | None:
    """`value` as Python source that evaluates back to an equal value, for plain data."""
    if not _plain(value, depth=0):
        return None
    text = repr(value)
    if len(text) > MAX_LITERAL_BYTES:
        return None
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return text if same else None


def _plain(value: Any, depth: int) -> bool:
    if depth > 8:
        return False
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, _LITERAL_TYPES):
        return True
    if isinstance(value, list | tuple | set | frozenset) and type(value) in (
            list, tuple, set, frozenset):
        return type(value) is not frozenset and all(_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, _LITERAL_TYPES) and _plain(v, depth + 1)
                   for k, v in value.items())
    return False
