"""Shared test builders: study manifests, their specs, and trial records.

Each builder returns a fresh object (edit it freely) and takes the fields to change as
keyword arguments, spelled as the manifest spells them for manifests and specs
(`budget={"maxTrials": 4}`, `earlyStopping={...}`) and as `TrialRecord` names them for
records (`started_at=...`).

- `study_manifest()`: the `digits` study, valid and touching most fields (the base of the
  manifest cases in tests/operator/manifest_cases.py); `study_spec()` is its parsed spec.
- `quad_manifest()`: a small study around tests/local/quadratic_trial.py, runnable by
  `carbs run` (tests/local/conftest.py's `write_study` writes it beside that script);
  `quad_spec()` is its parsed spec.
- `example_spec()`: the spec of examples/digits-mlp/study.yaml, its budget pinned.
- `trial_record()`: a TrialRecord; `digits_trial()`: one of the example's trials, its
  parameters varying with its index.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from carbs_operator.models import Budget, CarbsStudy, StudySpec, TrialPhase
from carbs_operator.study import TrialRecord
from carbs_operator.validation import load_study, parse_study

API_VERSION = "carbs.dev/v1alpha1"
EXAMPLE = Path(__file__).parents[2] / "examples" / "digits-mlp" / "study.yaml"


def study_manifest(name: str = "digits", namespace: str | None = "ml",
                   **spec: Any) -> dict[str, Any]:
    """A valid CarbsStudy manifest touching most fields; `spec` replaces whole fields."""
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    body: dict[str, Any] = {
        "objective": {"metric": "val_loss", "direction": "minimize"},
        "cost": {"metric": "flops"},
        "parameters": [
            {"name": "lr", "space": "log", "min": 1e-5, "max": 1.0, "searchCenter": 3e-3},
            {"name": "width", "space": "log", "integer": True, "roundingFactor": 8,
             "min": 8, "max": 1024, "searchCenter": 64},
            {"name": "dropout", "space": "logit", "min": 0.01, "max": 0.5},
            {"name": "momentum", "space": "linear", "min": -1, "max": 1, "scale": 0.5},
        ],
        "budget": {"maxTrials": 40, "maxFailedTrials": 10},
        "parallelism": 2,
        "trialTemplate": {
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": "train",
                            "image": "registry.example/digits:1.0",
                            "command": ["python", "train.py"],
                            "args": ["--lr=${params.lr}", "--width=${params.width}"],
                            "env": [{"name": "DROPOUT", "value": "${params.dropout}"}],
                        }],
                    },
                },
            },
        },
    }
    body.update(copy.deepcopy(spec))
    return {"apiVersion": API_VERSION, "kind": "CarbsStudy", "metadata": metadata,
            "spec": body}


def study_spec(**spec: Any) -> StudySpec:
    """The spec of `study_manifest(**spec)`, parsed as the runtimes parse it."""
    return parse_study(study_manifest(**spec)).spec


def quad_parameters() -> list[dict[str, Any]]:
    """The quadratic studies' search space (lr, x, size), locally and on the emulator."""
    return [
        {"name": "lr", "space": "log", "min": 1e-4, "max": 1.0, "searchCenter": 1e-3},
        {"name": "x", "space": "linear", "min": -1.0, "max": 1.0, "searchCenter": 0.0},
        {"name": "size", "space": "log", "min": 1, "max": 1000, "integer": True,
         "searchCenter": 10},
    ]


def quad_manifest(name: str = "quad", extra_args: list[str] | None = None,
                  deadline: int | None = None, **spec: Any) -> dict[str, Any]:
    """A small study around quadratic_trial.py (loss, cost in flops); `extra_args` go to the
    script, `deadline` is the Job's activeDeadlineSeconds, `spec` replaces whole fields."""
    body: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "cost": {"metric": "flops"},
        "parameters": quad_parameters(),
        "budget": {"maxTrials": 8, "maxFailedTrials": 4},
        "parallelism": 2,
        "carbs": {"seed": 0},
        "trialTemplate": {"spec": {"template": {"spec": {"containers": [{
            "name": "trial",
            "image": "example/quad:1",
            "command": ["python", "quadratic_trial.py"],
            "args": ["--lr=${params.lr}", "--x=${params.x}", "--size=${params.size}",
                     *(extra_args or [])],
        }]}}}},
    }
    if deadline is not None:
        body["trialTemplate"]["spec"]["activeDeadlineSeconds"] = deadline
    body.update(copy.deepcopy(spec))
    return {"apiVersion": API_VERSION, "kind": "CarbsStudy", "metadata": {"name": name},
            "spec": body}


def quad_spec(**spec: Any) -> StudySpec:
    """The spec of `quad_manifest(**spec)`, parsed as the runtimes parse it."""
    return parse_study(quad_manifest(**spec)).spec


@cache
def _example() -> CarbsStudy:
    return load_study(EXAMPLE)


def example_spec(**budget: Any) -> StudySpec:
    """The digits-mlp example's spec; with `budget` (Budget's field names, e.g.
    max_trials=30), its budget is exactly that."""
    spec = _example().spec.model_copy(deep=True)
    if not budget:
        return spec
    return spec.model_copy(update={"budget": Budget(**budget)})


def trial_record(index: int = 0, phase: TrialPhase = TrialPhase.SUCCEEDED, *,
                 params: Mapping[str, float | str] | None = None,
                 objective: float | None = None, cost: float | None = None,
                 **fields: Any) -> TrialRecord:
    """A TrialRecord (params {"lr": 1e-3} unless given); `fields` are TrialRecord's own."""
    return TrialRecord(index=index, phase=phase,
                       params=dict(params) if params is not None else {"lr": 1e-3},
                       objective=objective, cost=cost, **fields)


def digits_params(index: int) -> dict[str, float | str]:
    """The example's parameters for trial `index`: lr and epochs grow with it."""
    return {"lr": 1e-3 * (index + 1), "width": 64.0, "epochs": 1.0 + index,
            "weight_decay": 1e-4, "activation": "relu"}


def digits_trial(index: int, phase: TrialPhase, objective: float | None = None,
                 cost: float | None = None, **fields: Any) -> TrialRecord:
    """A trial of the digits-mlp example with `digits_params(index)`."""
    return trial_record(index, phase, params=digits_params(index), objective=objective,
                        cost=cost, **fields)
