"""carbs-operator: cost-aware hyperparameter search with CARBS, on a laptop or Kubernetes.

Training scripts import this package for `report()` and `report_progress()` only, so
importing it must stay cheap: nothing is imported until an attribute is first used (no
pydantic, no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbs_operator.sdk import report, report_progress
    from carbs_operator.tuning.api import load_study, to_manifest, tune

__all__ = ["__version__", "load_study", "report", "report_progress", "to_manifest", "tune"]


def __getattr__(name: str) -> Any:
    if name in ("report", "report_progress"):
        from carbs_operator import sdk

        return getattr(sdk, name)
    if name in ("tune", "load_study", "to_manifest"):  # pydantic and the runner: on first use
        from carbs_operator.tuning import api

        return getattr(api, name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("carbs-operator")
        except PackageNotFoundError:  # running from a source tree without installing
            return "0+unknown"
    raise AttributeError(f"module 'carbs_operator' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
