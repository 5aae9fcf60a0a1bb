"""`carbs predict`: read a study (local state or a cluster), predict, print, write a manifest.

The I/O around carbs_operator.scaleup.predict: where the trials come from, how the prediction is
shown, and the scaled-up study manifest that closes the loop. The prediction itself is
pure and shared with the operator's status.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, cast

import yaml
from rich.console import Console
from rich.table import Table

from carbs_operator.errors import InfrastructureError
from carbs_operator.formatting import cost_label, fmt_number
from carbs_operator.models import CarbsStudy
from carbs_operator.scaleup.predict import (
    ParamValue,
    PredictionRefusedError,
    ScaleUpPrediction,
    legal_value,
    predict_scale_up,
)
from carbs_operator.study import TrialRecord
from carbs_operator.validation import ManifestError, load_study, parse_study

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
# Search radius of the scaled-up study: a third of the default (0.3), so its first trials
# stay near the prediction instead of re-exploring what the cheap study already mapped.
SCALED_SEARCH_RADIUS = 0.1


class SourceError(InfrastructureError):
    """The study or its trials could not be read; the message says which and why."""


def local_source(path: Path, state_dir: Path) -> tuple[CarbsStudy, list[TrialRecord]]:
    """The manifest and the trial records `carbs run` stored for it."""
    from carbs_operator.local.commands import state_path
    from carbs_operator.local.store import StoreError, TrialStore

    try:
        study = load_study(path)
    except ManifestError as error:
        raise SourceError("\n".join(f"{path}: {p}" for p in error.problems)) from error
    db = state_path(state_dir, study)
    if not db.exists():
        raise SourceError(f"no state for study {study.metadata.name} in {state_dir} "
                          "(run it first with `carbs run`)")
    try:
        with TrialStore(db) as store:
            return study, store.trials()
    except StoreError as error:
        raise SourceError(f"{db}: {error}") from error


def cluster_source(reference: str, api_client: Any = None) -> tuple[CarbsStudy, list[TrialRecord]]:
    """A CarbsStudy `NAMESPACE/NAME` and its CarbsTrial objects, read as kubectl would
    (the kubeconfig, or the pod's service account) unless an `api_client` is given."""
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    from carbs_operator.k8s.api import STUDIES, TRIALS
    from carbs_operator.k8s.trials import record_from_object
    from carbs_operator.template import LABEL_STUDY

    namespace, _, name = reference.partition("/")
    if not namespace or not name or "/" in name:
        raise SourceError(f"--cluster: expected NAMESPACE/NAME, got {reference!r}")
    if api_client is None:
        api_client = _default_client()
    api = k8s.CustomObjectsApi(api_client)
    try:
        body = cast(dict[str, Any], api.get_namespaced_custom_object(
            STUDIES.group, STUDIES.version, namespace, STUDIES.plural, name))
        found = cast(dict[str, Any], api.list_namespaced_custom_object(
            TRIALS.group, TRIALS.version, namespace, TRIALS.plural,
            label_selector=f"{LABEL_STUDY}={name}"))
    except ApiException as error:
        raise SourceError(f"--cluster {reference}: {error.status} {error.reason}") from error
    try:
        study = parse_study(body)
    except ManifestError as error:
        raise SourceError("\n".join(f"{reference}: {p}" for p in error.problems)) from error
    return study, [record_from_object(item) for item in found.get("items") or []]


def _default_client() -> Any:
    from carbs_operator.kube_client import KubeConfigError, kube_api_client

    try:
        return kube_api_client()
    except KubeConfigError as error:
        raise SourceError(f"--cluster: {error}") from error


def _text(value: ParamValue) -> str:
    return value if isinstance(value, str) else (
        str(value) if isinstance(value, int) else fmt_number(value))


def prediction_table(study: CarbsStudy, prediction: ScaleUpPrediction) -> Table:
    """Every parameter with its interval, and the objective, as a person reads them."""
    spec = study.spec
    table = Table(
        title=f"{study.metadata.name}: predicted at {cost_label(spec)} = "
        f"{fmt_number(prediction.cost)} ({prediction.extrapolation:.3g}x the largest trial)",
        title_justify="left")
    for header in ("", "predicted", "interval", "note"):
        table.add_column(header, justify="left" if header in ("", "note") else "right")
    notes = _notes(prediction)
    for parameter in spec.parameters:
        name = parameter.name
        lo, hi = prediction.intervals[name]
        note = notes.get(name, "")
        if name in prediction.beyond:
            note = f"law points to {fmt_number(prediction.beyond[name])}, outside the space"
        table.add_row(name, _text(prediction.params[name]), f"[{_text(lo)}, {_text(hi)}]", note)
    low, high = prediction.objective_interval
    fitted = prediction.law
    law_note = (
        f"L(C) = {fitted.floor:.4g} {'+' if fitted.sign > 0 else '-'} {fitted.amplitude:.3g}"
        f"·(C/{fitted.reference_cost:.3g})^-{fitted.exponent:.3g}")
    if prediction.allocation is not None:
        floor = prediction.allocation.sign * prediction.allocation.law.floor
        law_note = f"the joint law's best configuration (floor {floor:.4g})"
    table.add_row(
        spec.objective.metric, fmt_number(prediction.objective),
        f"[{fmt_number(low)}, {fmt_number(high)}]", law_note, style="bold")
    allocation = prediction.allocation
    source = (f"one law over {allocation.trials} trials" if allocation is not None
              else f"{prediction.frontier_points} frontier points")
    table.caption = (f"from {source}; intervals: 90% bootstrap over {prediction.resamples} "
                     "resamples of them")
    return table


def _notes(prediction: ScaleUpPrediction) -> dict[str, str]:
    """Per numeric parameter, what its value came from: a cost driver's share of the
    compute, a valley's center, or (the fallback) its own law over the frontier."""
    allocation = prediction.allocation
    if allocation is None:
        return {law.parameter: f"frontier law, R² {law.r2:.2f} over {law.points} points"
                for law in prediction.parameter_laws if law.r2 is not None}
    notes = {}
    for position, index in enumerate(allocation.drivers):
        exponent = float(allocation.law.exponents[position])
        notes[allocation.params[index].name] = f"cost driver, returns ∝ x^-{exponent:.3g}"
    for index in allocation.others:
        notes[allocation.params[index].name] = "valley center, joint law"
    return notes


def scaled_manifest(
    study: CarbsStudy, prediction: ScaleUpPrediction, max_trials: int,
    radius: float = SCALED_SEARCH_RADIUS,
) -> dict[str, Any]:
    """The scaled-up study: every searchCenter on the prediction, a narrow search radius,
    `max_trials` trials, and the cost caps sized for the cheap study removed.

    Where a law points outside a parameter's bounds, the bound moves to let the center
    follow it. The result is validated before it is returned.
    """
    body = study.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    meta = body.get("metadata") or {}
    name = f"{meta.get('name', 'study')}"[:44] + "-scaleup"
    body["metadata"] = {"name": name, **({"namespace": meta["namespace"]}
                                         if meta.get("namespace") else {})}
    body.pop("status", None)
    spec = body["spec"]
    for parameter, model in zip(spec["parameters"], study.spec.parameters, strict=True):
        center: ParamValue = prediction.params[model.name]
        if model.name in prediction.beyond:
            center = legal_value(model, prediction.beyond[model.name], clip=False)
            if isinstance(center, int | float) and math.isfinite(center):
                parameter["min"] = min(parameter.get("min", center), center)
                parameter["max"] = max(parameter.get("max", center), center)
        parameter["searchCenter"] = center
    spec["budget"] = {**spec.get("budget", {}), "maxTrials": max_trials}
    spec["budget"].pop("maxTotalCost", None)
    spec.pop("maxSuggestionCost", None)
    spec["carbs"] = {**spec.get("carbs", {}), "initialSearchRadius": radius}
    parse_study(body)  # never write a manifest `carbs validate` would refuse
    return dict(body)


def predict_command(
    study_path: Path | None, state_dir: Path, cluster: str | None, cost: float,
    as_json: bool, manifest: Path | None, max_trials: int | None,
) -> int:
    """Run `carbs predict`; 0 with a prediction, 1 when refused or unreadable, 2 on usage."""
    console = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    if (study_path is None) == (cluster is None):
        err.print("carbs predict: give STUDY.yaml (local state) or --cluster NAMESPACE/NAME")
        return EXIT_USAGE
    if manifest is not None and (max_trials is None or max_trials < 1):
        err.print("carbs predict: --manifest needs --max-trials N (N >= 1) for the scaled-up run")
        return EXIT_USAGE
    try:
        if cluster is not None:
            study, trials = cluster_source(cluster)
        else:
            assert study_path is not None
            study, trials = local_source(study_path, state_dir)
        prediction = predict_scale_up(study.spec, trials, cost)
    except (SourceError, PredictionRefusedError) as error:
        if as_json:
            print(json.dumps({"error": str(error)}))
        else:
            err.print(f"carbs predict: {error}", markup=False, highlight=False)
        return EXIT_PROBLEMS
    if as_json:
        print(json.dumps(prediction.to_json()))
    else:
        console.print(prediction_table(study, prediction))
    if manifest is not None and max_trials is not None:
        text = yaml.safe_dump(scaled_manifest(study, prediction, max_trials), sort_keys=False)
        manifest.write_text(text, encoding="utf-8")
        print(f"wrote {manifest}", file=sys.stderr if as_json else sys.stdout)
    return EXIT_OK

