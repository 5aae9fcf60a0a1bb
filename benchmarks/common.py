"""Pieces shared by the benchmarks: one search-space description for every method, timing
and table helpers.

Every method in a benchmark must search the *same* space, so a space is written once as a
list of :class:`ParamSpec` and translated: to the engine's ``Param`` objects, to Optuna
distributions, and to a uniform sampler in each parameter's basic space (the random-search
baseline). Keeping the translation here, in one place, is what makes the comparisons fair.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"

SpaceKind = Literal["linear", "log", "logit"]


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter, described once for every method.

    ``min``/``max``/``center`` are in parameter space (what the training code sees). Basic
    space is the engine's internal coordinate: the value itself (linear), ``log10`` of it
    (log) or ``log10(p / (1 − p))`` (logit), as in the CARBS reference.
    """

    name: str
    kind: SpaceKind
    min: float
    max: float
    center: float
    is_integer: bool = False
    rounding_factor: int = 1

    def to_basic(self, value: float) -> float:
        """Parameter value → basic-space coordinate."""
        if self.kind == "linear":
            return value
        if self.kind == "log":
            return math.log10(value)
        return math.log10(value / (1.0 - value))

    def from_basic(self, x: float) -> float:
        """Basic-space coordinate → parameter value (rounded if integer, clipped to bounds)."""
        if self.kind == "linear":
            value = x
        elif self.kind == "log":
            value = 10.0**x
        else:
            value = 1.0 / (1.0 + 10.0 ** (-x))
        return self.clip_round(value)

    def clip_round(self, value: float) -> float:
        """Round integers to the rounding factor and keep the result inside the bounds."""
        if self.is_integer:
            factor = self.rounding_factor
            value = float(round(value / factor) * factor)
            low = math.ceil(self.min / factor) * factor
            high = math.floor(self.max / factor) * factor
            return float(min(max(value, low), high))
        return float(min(max(value, self.min), self.max))

    def sample_uniform(self, rng: np.random.Generator) -> float:
        """Uniform in basic space: the random-search baseline (log-uniform for log params)."""
        x = rng.uniform(self.to_basic(self.min), self.to_basic(self.max))
        return self.from_basic(float(x))

    def to_carbs(self, module: str = "carbs_optimizer") -> Any:
        """The engine's ``Param`` for this spec (imported lazily: the engine is optional).

        ``module="carbs"`` builds the reference implementation's ``Param`` from the same
        spec: its API is the one ours is a drop-in for, so both search the same space.
        """
        engine = importlib.import_module(module)
        LinearSpace, LogitSpace, LogSpace, Param = (
            engine.LinearSpace, engine.LogitSpace, engine.LogSpace, engine.Param
        )

        space: Any
        if self.kind == "linear":
            space = LinearSpace(
                min=self.min,
                max=self.max,
                is_integer=self.is_integer,
                rounding_factor=self.rounding_factor,
            )
        elif self.kind == "log":
            space = LogSpace(
                min=self.min,
                max=self.max,
                is_integer=self.is_integer,
                rounding_factor=self.rounding_factor,
            )
        else:
            space = LogitSpace(min=self.min, max=self.max)
        return Param(name=self.name, space=space, search_center=self.center)

    def to_optuna(self) -> Any:
        """The matching Optuna distribution.

        Optuna has no logit space (a logit parameter becomes a linear float) and no log
        integer with a step > 1 (a rounded log integer becomes a log integer with step 1;
        the objective rounds it to the factor, so it evaluates the same points).
        """
        from optuna.distributions import FloatDistribution, IntDistribution

        if self.is_integer:
            return IntDistribution(int(self.min), int(self.max), log=self.kind == "log")
        return FloatDistribution(self.min, self.max, log=self.kind == "log")


def carbs_params(specs: Sequence[ParamSpec], module: str = "carbs_optimizer") -> list[Any]:
    """The engine's (or, with ``module="carbs"``, the reference's) parameter list."""
    return [spec.to_carbs(module) for spec in specs]


def optuna_distributions(specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Optuna distributions for a space, keyed by name."""
    return {spec.name: spec.to_optuna() for spec in specs}


def sample_point(specs: Sequence[ParamSpec], rng: np.random.Generator) -> dict[str, float]:
    """One uniform random point in basic space."""
    return {spec.name: spec.sample_uniform(rng) for spec in specs}


def engine_available() -> bool:
    """Whether ``carbs_optimizer`` exposes the engine yet (it is written in parallel)."""
    try:
        import carbs_optimizer
    except ImportError:
        return False
    return all(
        hasattr(carbs_optimizer, name)
        for name in ("CARBS", "CARBSParams", "ObservationInParam", "Param", "LogSpace")
    )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once; return (seconds, its result)."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median(values: Sequence[float]) -> float:
    """Median, NaN for an empty sequence (a skipped cell)."""
    return float(statistics.median(values)) if values else math.nan


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile, NaN for an empty sequence."""
    return float(np.quantile(np.asarray(values, dtype=float), q)) if len(values) else math.nan


def machine_description() -> dict[str, Any]:
    """What the numbers were measured on (CPU only here)."""
    import torch

    cpu_model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu_model,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def package_versions() -> dict[str, str]:
    """Versions of the libraries under comparison."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for name in (
        "torch",
        "gpytorch",
        "optuna",
        "greenlet",
        "scikit-learn",
        "numpy",
        "carbs-operator",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON (NaN written as null), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nan_to_none(payload), indent=1, sort_keys=False) + "\n")


def nan_to_none(obj: Any) -> Any:
    """JSON has no NaN: map it (and infinities) to null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: nan_to_none(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [nan_to_none(value) for value in obj]
    return obj


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table."""
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def fmt_seconds(seconds: float) -> str:
    """Seconds for a table: ms below one second, '—' for a skipped cell."""
    if not math.isfinite(seconds):
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(ratio: float) -> str:
    """A speed ratio for a table, '—' when undefined."""
    if not math.isfinite(ratio):
        return "—"
    if ratio >= 100:
        return f"{ratio:.0f}×"
    if ratio >= 10:
        return f"{ratio:.1f}×"
    return f"{ratio:.2f}×"
