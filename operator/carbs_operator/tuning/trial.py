"""The trial entry point of `tune()`: `python -m carbs_operator.tuning.trial`.

It reads the function shipped by shipping.py from $CARBS_TUNE_FUNCTION and the trial's
parameters from $CARBS_PARAMS (both runtimes set it), calls `fn(params)`, and reports what
it returns: a dict as the trial's result, a bare number as the objective metric. A function
that calls report() itself may return None. An exception ends the trial with exit code 1
and its traceback in the trial's output, which is how both runtimes recognise a failure.

Standard library only, like sdk.py: a training image may hold the bare carbs-operator
install beside its own torch.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from carbs_operator.errors import InfrastructureError
from carbs_operator.sdk import report
from carbs_operator.tuning.shipping import ENV_FUNCTION

ENV_IN_TRIAL = "CARBS_TUNE_TRIAL"
SHIPPED_MODULE = "__carbs_tune__"
SCRIPT_MODULE = "__carbs_tune_main__"


class TrialLoadError(InfrastructureError, RuntimeError):
    """The shipped function could not be loaded in this process."""


def load_function(payload: Mapping[str, Any]) -> Callable[..., Any]:
    """The user's function, rebuilt from the payload shipping.ship() wrote."""
    kind = payload.get("kind")
    if kind == "module":
        path = payload.get("path")
        if isinstance(path, str) and os.path.isdir(path) and path not in sys.path:
            sys.path.append(path)
        target: Any = importlib.import_module(str(payload["module"]))
        for part in str(payload["qualname"]).split("."):
            target = getattr(target, part)
        return _callable(target)
    if kind == "script":
        filename = str(payload["filename"])
        folder = os.path.dirname(filename)
        if os.path.isdir(folder) and folder not in sys.path:
            sys.path.insert(0, folder)  # the script's sibling modules, as `python script.py`
        module = _run_source(str(payload["source"]), filename, SCRIPT_MODULE)
        target = module
        for part in str(payload["qualname"]).split("."):
            target = getattr(target, part)
        return _callable(target)
    if kind == "source":
        module = _run_source(str(payload["source"]), f"<tune {payload['name']}>",
                             SHIPPED_MODULE)
        return _callable(getattr(module, str(payload["name"])))
    raise TrialLoadError(f"unknown payload kind {kind!r} (a newer carbs-operator wrote it?)")


def _run_source(source: str, filename: str, name: str) -> types.ModuleType:
    """Run the user's own source as a fresh module. This exec is the point of tune(): the
    text is the caller's function (or script), shipped by the caller's own tune() call in
    the study they created; nothing else is ever executed this way."""
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module  # dataclasses and the like look their module up by name
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)  # noqa: S102 - the user's own function source, see above
    return module


def _callable(target: Any) -> Callable[..., Any]:
    if not callable(target):
        raise TrialLoadError(f"the shipped name is a {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


def publish(value: Any, objective_metric: str) -> None:
    """Report what fn returned (see the module docstring)."""
    if value is None:
        return
    if isinstance(value, Mapping):
        report(dict(value))
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        report({objective_metric: value})
        return
    raise TypeError(
        f"fn returned a {type(value).__name__}; return a dict of metrics, a number (the "
        f"objective, {objective_metric}), or None after calling report()")


def main() -> int:
    text = os.environ.get(ENV_FUNCTION)
    if not text:
        print(f"carbs tune trial: ${ENV_FUNCTION} is not set", file=sys.stderr)
        return 2
    payload = json.loads(text)
    params = json.loads(os.environ.get("CARBS_PARAMS") or "{}")
    os.environ[ENV_IN_TRIAL] = "1"  # tune() inside the trial refuses to start another study
    fn = load_function(payload)
    publish(fn(params), str(payload.get("objective", "objective")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
