"""The CarbsStudy that a `tune()` call stands for, validated by the manifest's own models.

tune()'s keyword arguments are the spec's fields under their Python names (`parameters`,
`objective`, `budget`, `early_stopping`, ...), holding the very values the YAML would: the
dicts are placed into a manifest and validated by `validation.parse_study`, so a bad value
gets the same message, at the same field path (`spec.parameters[0].min`), as it would in
`carbs validate`. There is no second schema to drift from the CRD.

The trial template runs `python -m carbs_operator.tuning.trial` with the shipped function
in one env var (shipping.py): locally `python` is the caller's interpreter and the image is
ignored; on a cluster the image must hold carbs-operator (the bare install suffices) and
whatever the function imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from carbs_operator.models import API_VERSION, MAX_STUDY_NAME_LENGTH, STUDY_KIND, CarbsStudy
from carbs_operator.tuning.shipping import ENV_FUNCTION, encode, ship
from carbs_operator.validation import parse_study

TRIAL_MODULE = "carbs_operator.tuning.trial"
CONTAINER_NAME = "trial"
# Never pulled locally (`carbs run` ignores images); on a cluster tune() requires image=.
LOCAL_IMAGE = "local/carbs-tune:ignored"


def default_name(fn: Callable[..., Any]) -> str:
    """A study name from the function's name: `train_mlp` -> `train-mlp`."""
    base = re.sub(r"[^a-z0-9]+", "-", getattr(fn, "__name__", "study").lower()).strip("-")
    return (base or "study")[:MAX_STUDY_NAME_LENGTH].strip("-") or "study"


def _plain(value: Any) -> Any:
    """Accept the models themselves too (`Parameter(...)`), as their wire form."""
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def build_study(
    fn: Callable[..., Any],
    *,
    name: str,
    parameters: Sequence[Mapping[str, Any] | BaseModel],
    objective: Mapping[str, Any] | BaseModel,
    cost: Mapping[str, Any] | BaseModel,
    budget: Mapping[str, Any] | BaseModel,
    namespace: str | None = None,
    image: str | None = None,
    env: Mapping[str, str] | None = None,
    resources: Mapping[str, Any] | None = None,
    timeout_seconds: int | None = None,
    spec_fields: Mapping[str, Any] | None = None,
) -> CarbsStudy:
    """The validated study (ManifestError naming each bad field); `spec_fields` holds the
    other spec fields by their manifest or Python names (parallelism, earlyStopping, ...)."""
    wanted = _plain(objective)
    metric = wanted.get("metric") if isinstance(wanted, dict) else None
    payload = encode(ship(fn, str(metric or "objective")))
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image or LOCAL_IMAGE,
        "command": ["python", "-m", TRIAL_MODULE],
        "env": [{"name": ENV_FUNCTION, "value": payload},
                *({"name": key, "value": value} for key, value in (env or {}).items())],
    }
    if resources:
        container["resources"] = _plain(resources)
    job: dict[str, Any] = {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never", "containers": [container]}}}
    if timeout_seconds is not None:
        job["activeDeadlineSeconds"] = timeout_seconds
    spec: dict[str, Any] = {
        "objective": wanted, "cost": _plain(cost),
        "parameters": _plain(list(parameters)), "budget": _plain(budget),
        **{key: _plain(value) for key, value in (spec_fields or {}).items()
           if value is not None},
        "trialTemplate": {"spec": job},
    }
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return parse_study({"apiVersion": API_VERSION, "kind": STUDY_KIND, "metadata": metadata,
                        "spec": spec})


def manifest_of(study: CarbsStudy) -> dict[str, Any]:
    """The study as the YAML a user would commit (camelCase, unset fields left out)."""
    return study.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
