"""carbs-operator: cost-aware hyperparameter search with CARBS, on a laptop or Kubernetes.

Training scripts import this package for `report()` only, so importing it must stay
cheap: nothing is imported until an attribute is first used (no pydantic, no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbs_operator.sdk import report

__all__ = ["__version__", "report"]


def __getattr__(name: str) -> Any:
    if name == "report":
        from carbs_operator.sdk import report

        return report
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("carbs-operator")
        except PackageNotFoundError:  # running from a source tree without installing
            return "0+unknown"
    raise AttributeError(f"module 'carbs_operator' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
