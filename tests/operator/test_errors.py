"""One exception hierarchy (issue 25): every exception class carbs_operator defines derives
from errors.CarbsOperatorError, and keeps the builtin base its callers catch."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import carbs_operator
from carbs_operator.errors import CarbsOperatorError, InfrastructureError, InvalidInputError

# Modules that cannot be imported without an optional extra installed.
OPTIONAL = ("carbs_operator.tracking.mlflow_sink", "carbs_operator.tracking.wandb_sink")


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
    ("validation.ManifestError", InvalidInputError, ValueError),
    ("template.TemplateError", InvalidInputError, ValueError),
    ("workloads.WorkloadError", InvalidInputError, ValueError),
    ("results.ResultError", InvalidInputError, ValueError),
    ("tuning.shipping.ShippingError", InvalidInputError, ValueError),
    ("tuning.api.TuneError", InvalidInputError, RuntimeError),
    ("ui.source.StudyNotFoundError", InvalidInputError, LookupError),
    ("kube_client.KubeConfigError", InfrastructureError, RuntimeError),
    ("k8s.peering.PeeringError", InfrastructureError, Exception),
    ("tuning.cluster.ClusterTuneError", InfrastructureError, RuntimeError),
    ("tuning.trial.TrialLoadError", InfrastructureError, RuntimeError),
    ("local.store.StoreError", InfrastructureError, Exception),
    ("predict_command.SourceError", InfrastructureError, Exception),
    ("crd.SchemaError", CarbsOperatorError, ValueError),
    ("predict.PredictionRefusedError", CarbsOperatorError, ValueError),
])
def test_each_error_is_of_its_kind_and_keeps_its_builtin_base(
        name: str, kind: type[Exception], builtin: type[Exception]) -> None:
    module, _, cls_name = f"carbs_operator.{name}".rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    assert issubclass(cls, kind)
    assert issubclass(cls, builtin)
