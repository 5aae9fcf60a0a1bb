"""One exception hierarchy (issue 25): every exception class carbs_operator defines derives
from errors.CarbsOperatorError, and keeps the builtin base its callers catch."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache

import pytest

import carbs_operator
from carbs_operator.errors import CarbsOperatorError, InfrastructureError, InvalidInputError

# Modules that cannot be imported without an optional extra installed.
OPTIONAL = ("carbs_operator.tracking.mlflow_sink", "carbs_operator.tracking.wandb_sink")


@cache
def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(carbs_operator.__path__, "carbs_operator."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            if info.name in OPTIONAL:
                continue
            raise
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and \
                    value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_class_derives_from_the_base() -> None:
    classes = _exception_classes()
    assert len(classes) >= 15  # the walk found them (not an empty package walk)
    strays = sorted(name for name, cls in classes.items()
                    if not issubclass(cls, CarbsOperatorError))
    assert strays == [], f"derive these from carbs_operator.errors: {strays}"


@pytest.mark.parametrize(("name", "kind", "builtin"), [
    ("ManifestError", InvalidInputError, ValueError),
    ("TemplateError", InvalidInputError, ValueError),
    ("WorkloadError", InvalidInputError, ValueError),
    ("ResultError", InvalidInputError, ValueError),
    ("ShippingError", InvalidInputError, ValueError),
    ("TuneError", InvalidInputError, RuntimeError),
    ("StudyNotFoundError", InvalidInputError, LookupError),
    ("KubeConfigError", InfrastructureError, RuntimeError),
    ("PeeringError", InfrastructureError, Exception),
    ("ClusterTuneError", InfrastructureError, RuntimeError),
    ("TrialLoadError", InfrastructureError, RuntimeError),
    ("StoreError", InfrastructureError, Exception),
    ("SourceError", InfrastructureError, Exception),
    ("SchemaError", CarbsOperatorError, ValueError),
    ("PredictionRefusedError", CarbsOperatorError, ValueError),
])
def test_each_error_is_of_its_kind_and_keeps_its_builtin_base(
        name: str, kind: type[Exception], builtin: type[Exception]) -> None:
    found = [cls for path, cls in _exception_classes().items() if path.endswith(f".{name}")]
    assert len(found) == 1, f"{name}: {found}"
    assert issubclass(found[0], kind)
    assert issubclass(found[0], builtin)
