"""Checks behind `carbs validate`, shared with the operator: manifest in, problems out.

Nothing here raises on user data. Every problem names the field path a user would look for
in their YAML (`spec.parameters[1].min`), so the same list serves the CLI and the operator's
Invalid condition.

YAML is read the way kubectl reads it rather than the way PyYAML does by default: `1e-5`
and `1.0e15` are numbers (PyYAML's YAML 1.1 rules make them strings), dates stay strings,
and duplicate keys are errors. Anchors and aliases are refused: they are rare in manifests
and are the route to "billion laughs" documents that expand without bound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from carbs_operator.errors import InvalidInputError
from carbs_operator.models import (
    API_VERSION,
    SPEC_PROBLEM,
    STUDY_KIND,
    TRIAL_KIND,
    CarbsStudy,
    CarbsTrial,
    fmt,
)

MAX_MANIFEST_BYTES = 1024 * 1024  # the API server's own limit is about 1.5 MiB
_KINDS: dict[str, type[BaseModel]] = {STUDY_KIND: CarbsStudy, TRIAL_KIND: CarbsTrial}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest: where (a field path, "" for the whole file) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ManifestError(InvalidInputError, ValueError):
    """A manifest that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class _KubectlLoader(yaml.SafeLoader):
    """SafeLoader with kubectl's scalar rules; see the module docstring."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not supported", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_KubectlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_KubectlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def load_yaml(text: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML document; return (object, []) or (None, problems)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_BYTES:
        return None, [Problem("", f"file is larger than {MAX_MANIFEST_BYTES} bytes")]
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_KubectlLoader) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [Problem("", f"invalid YAML{where}: {exc.problem or exc.context}")]
    except RecursionError:
        return None, [Problem("", "invalid YAML: nested too deeply")]
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        return None, [Problem("", f"invalid YAML: {type(exc).__name__}: {exc}")]
    if len(documents) != 1:
        return None, [Problem("", f"expected one YAML document, found {len(documents)}")]
    return documents[0], []


def load_file(path: str | Path) -> tuple[Any, list[Problem]]:
    """Read and parse a manifest file; unreadable files are problems, not exceptions."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem("", f"cannot read {path}: {exc}")]
    return load_yaml(text)


def validate_manifest(obj: Mapping[str, Any]) -> list[Problem]:
    """Every problem with a CarbsStudy (or CarbsTrial) manifest; [] when it is valid."""
    problems = _check_type(obj)
    if problems:
        return problems
    try:
        _KINDS[obj["kind"]].model_validate(obj)
    except ValidationError as exc:
        return _problems_from(exc)
    except RecursionError:
        return [Problem("", "manifest is nested too deeply")]
    return []


def validate_file(path: str | Path) -> list[Problem]:
    """Problems of the manifest in a file, from unreadable file to cross-field checks."""
    obj, problems = load_file(path)
    return problems or validate_manifest(obj)


def parse_study(obj: Mapping[str, Any]) -> CarbsStudy:
    """A validated CarbsStudy model, or ManifestError naming every problem."""
    problems = _check_type(obj)
    if not problems and obj.get("kind") != STUDY_KIND:
        problems = [Problem("kind", f"expected {STUDY_KIND} (got {obj.get('kind')!r})")]
    if problems:
        raise ManifestError(problems)
    try:
        return CarbsStudy.model_validate(obj)
    except ValidationError as exc:
        raise ManifestError(_problems_from(exc)) from None
    except RecursionError:
        raise ManifestError([Problem("", "manifest is nested too deeply")]) from None


def load_study(path: str | Path) -> CarbsStudy:
    """Read, parse and validate a study file (ManifestError on any problem)."""
    obj, problems = load_file(path)
    if problems:
        raise ManifestError(problems)
    return parse_study(obj)


def format_path(loc: tuple[int | str, ...]) -> str:
    """`("spec", "parameters", 1, "min")` -> `spec.parameters[1].min`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _check_type(obj: Any) -> list[Problem]:
    if not isinstance(obj, Mapping):
        return [Problem("", f"expected a mapping (a YAML object), got {type(obj).__name__}")]
    problems = []
    if obj.get("apiVersion") != API_VERSION:
        got = obj.get("apiVersion")
        problems.append(Problem("apiVersion", f"expected {API_VERSION} (got {got!r})"))
    if obj.get("kind") not in _KINDS:
        kinds = " or ".join(_KINDS)
        problems.append(Problem("kind", f"expected {kinds} (got {obj.get('kind')!r})"))
    return problems


def _problems_from(exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        ctx = error.get("ctx") or {}
        if error["type"] == SPEC_PROBLEM:
            for sub_path, message in ctx["problems"]:
                problems.append(Problem(_join(format_path(loc), sub_path), message))
            continue
        problems.append(Problem(format_path(loc), _message(error)))
    return problems


def _join(base: str, sub: str) -> str:
    if not sub:
        return base
    if not base or sub.startswith("["):
        return base + sub
    return f"{base}.{sub}"


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; `kubectl explain` lists the fields)"
    if kind == "finite_number":
        return "must be a finite number (not NaN or infinity)"
    if kind == "too_short" and (error.get("ctx") or {}).get("min_length") == 1:
        return "must not be empty"
    message = str(error["msg"]).replace("Input should be", "must be")
    value = error.get("input")
    if value is None or isinstance(value, bool | str):
        shown = repr(value)
    elif isinstance(value, int | float):
        shown = fmt(value)
    else:
        return message
    return message + f" (got {shown})" if len(shown) <= 60 else message
