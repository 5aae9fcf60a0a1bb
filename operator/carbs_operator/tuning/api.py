"""`tune()`, `to_manifest()` and `load_study()`: the Python front door to a study.

tune() builds the CarbsStudy its arguments stand for (manifest.py: the manifest's own
models, so errors name the manifest's field paths) and runs it:

- locally (the default) with `carbs run`'s LocalRunner: each trial a subprocess under the
  runner's launcher (timeouts, kill and resume, SQLite state in `state_dir`, live
  progress). The study is stored as any local study: `<state_dir>/<name>.db` and its
  trials' folders, plus `<state_dir>/<name>.yaml`, the manifest, so `carbs frontier`,
  `carbs plot`, `carbs predict` and `carbs ui` read it like one started from YAML. Calling
  tune() again with the same name resumes the study (a finished one returns at once).
- on a cluster (`cluster=True`): cluster.py applies the manifest and follows the study.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from carbs_operator.errors import InvalidInputError
from carbs_operator.models import CarbsStudy
from carbs_operator.tuning.manifest import build_study, default_name, manifest_of
from carbs_operator.tuning.result import TuneResult
from carbs_operator.tuning.trial import ENV_IN_TRIAL

DEFAULT_STATE_DIR = ".carbs"

Values = Mapping[str, Any] | BaseModel


class TuneError(InvalidInputError, RuntimeError):
    """tune() or load_study() cannot go on; the message says why and what to do."""


def _study(
    fn: Callable[..., Any], *, parameters: Sequence[Values], objective: Values, cost: Values,
    budget: Values, parallelism: int, early_stopping: Values | None, carbs: Values | None,
    max_suggestion_cost: float | None, completion_policy: Values | None,
    warm_start: Values | None, tracking: Values | None, timeout_seconds: int | None,
    env: Mapping[str, str] | None, name: str | None, namespace: str | None,
    image: str | None, resources: Mapping[str, Any] | None,
    extra_tracking_env: Mapping[str, str] | None = None,
) -> CarbsStudy:
    spec_fields: dict[str, Any] = {
        "parallelism": parallelism, "earlyStopping": early_stopping, "carbs": carbs,
        "maxSuggestionCost": max_suggestion_cost, "completionPolicy": completion_policy,
        "warmStart": warm_start,
    }
    if tracking is not None:
        spec_fields["tracking"] = tracking

    def build(extra_env: Mapping[str, str] | None) -> CarbsStudy:
        return build_study(
            fn, name=name or default_name(fn), parameters=parameters, objective=objective,
            cost=cost, budget=budget, namespace=namespace, image=image, env=extra_env,
            resources=resources, timeout_seconds=timeout_seconds, spec_fields=spec_fields,
        )

    study = build(env)
    if study.spec.tracking is None and not extra_tracking_env:
        return study
    # spec.tracking's env (where to log, the W&B group) goes into the manifest itself, so
    # runs the function logs nest under the study on a cluster too; the user's env wins.
    from carbs_operator.tracking.tracker import tracking_env

    return build({**tracking_env(study), **(extra_tracking_env or {}), **(env or {})})


def tune(
    fn: Callable[..., Any],
    *,
    parameters: Sequence[Values],
    objective: Values,
    cost: Values,
    budget: Values,
    parallelism: int = 1,
    early_stopping: Values | None = None,
    carbs: Values | None = None,
    max_suggestion_cost: float | None = None,
    completion_policy: Values | None = None,
    warm_start: Values | None = None,
    tracking: Values | None = None,
    timeout_seconds: int | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    state_dir: str | Path = DEFAULT_STATE_DIR,
    progress: bool = True,
    device: str = "auto",
    cluster: bool = False,
    image: str | None = None,
    namespace: str = "default",
    resources: Mapping[str, Any] | None = None,
    api_client: Any = None,
    poll_seconds: float = 2.0,
) -> TuneResult:
    """Run a CARBS study of `fn(params) -> dict` and return its result.

    `parameters`, `objective`, `cost`, `budget`, `early_stopping`, `carbs`,
    `max_suggestion_cost`, `completion_policy`, `warm_start` and `tracking` are the
    manifest's spec fields with the values the YAML would hold. `timeout_seconds` is the
    trial's activeDeadlineSeconds; `env` adds variables to every trial. fn gets a dict of
    parameter values and returns a dict of metrics (or a number: the objective), or calls
    carbs_operator.report() / report_progress() itself. See docs/tune.md.

    Raises ManifestError (naming each bad field), ShippingError (fn cannot be sent to a
    trial process), StoreError (the state holds another search under this name).
    """
    if os.environ.get(ENV_IN_TRIAL):
        raise TuneError(
            "tune() was called inside one of its own trials: the trial loads the script "
            "that defines fn, so put the tune() call under `if __name__ == \"__main__\":`")
    study = _study(
        fn, parameters=parameters, objective=objective, cost=cost, budget=budget,
        parallelism=parallelism, early_stopping=early_stopping, carbs=carbs,
        max_suggestion_cost=max_suggestion_cost, completion_policy=completion_policy,
        warm_start=warm_start, tracking=tracking, timeout_seconds=timeout_seconds, env=env,
        name=name, namespace=namespace if cluster else None, image=image,
        resources=resources,
    )
    if cluster:
        if not image:
            raise TuneError("cluster=True needs image=: an image holding carbs-operator and "
                            "what fn imports (the function itself travels in the manifest)")
        from carbs_operator.tracking.tracker import parent_env
        from carbs_operator.tuning.cluster import run_on_cluster

        parent = parent_env(study, namespace)
        if parent:  # the MLflow parent run's id, for runs the function starts on the cluster
            study = _study(
                fn, parameters=parameters, objective=objective, cost=cost, budget=budget,
                parallelism=parallelism, early_stopping=early_stopping, carbs=carbs,
                max_suggestion_cost=max_suggestion_cost, completion_policy=completion_policy,
                warm_start=warm_start, tracking=tracking, timeout_seconds=timeout_seconds,
                env=env, name=name, namespace=namespace, image=image, resources=resources,
                extra_tracking_env=parent)

        return run_on_cluster(study, api_client=api_client, poll_seconds=poll_seconds,
                              progress=progress)
    from carbs_operator.tuning.local import run_locally

    return run_locally(study, Path(state_dir), progress=progress, device=device)


def to_manifest(
    fn: Callable[..., Any],
    *,
    parameters: Sequence[Values],
    objective: Values,
    cost: Values,
    budget: Values,
    parallelism: int = 1,
    early_stopping: Values | None = None,
    carbs: Values | None = None,
    max_suggestion_cost: float | None = None,
    completion_policy: Values | None = None,
    warm_start: Values | None = None,
    tracking: Values | None = None,
    timeout_seconds: int | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    image: str | None = None,
    namespace: str | None = None,
    resources: Mapping[str, Any] | None = None,
) -> str:
    """The CarbsStudy YAML that `tune(fn, ..., cluster=True)` applies, without applying it:
    for `kubectl apply -f`, `carbs run`, or a commit. Same arguments as tune()."""
    import yaml

    study = _study(
        fn, parameters=parameters, objective=objective, cost=cost, budget=budget,
        parallelism=parallelism, early_stopping=early_stopping, carbs=carbs,
        max_suggestion_cost=max_suggestion_cost, completion_policy=completion_policy,
        warm_start=warm_start, tracking=tracking, timeout_seconds=timeout_seconds, env=env,
        name=name, namespace=namespace, image=image, resources=resources,
    )
    return yaml.safe_dump(manifest_of(study), sort_keys=False, width=100)


def load_study(
    study: str | Path,
    *,
    state_dir: str | Path = DEFAULT_STATE_DIR,
    cluster: bool = False,
    namespace: str = "default",
    api_client: Any = None,
) -> TuneResult:
    """The result object of an existing study, read-only.

    Locally `study` is a manifest path (`study.yaml`, read with its state in `state_dir`,
    as `carbs frontier` does) or the name of a study in `state_dir` that tune() ran. With
    `cluster=True` it is a CarbsStudy's name in `namespace`, read through the API (the
    kubeconfig, or the pod's service account, unless `api_client` is given).
    """
    from carbs_operator.predict_command import SourceError, cluster_source, local_source

    try:
        if cluster:
            found, trials = cluster_source(f"{namespace}/{study}", api_client)
            return TuneResult(found, trials, namespace=namespace)
        folder = Path(state_dir)
        path = Path(study)
        if not (path.suffix in (".yaml", ".yml") and path.is_file()):
            path = folder / f"{study}.yaml"
            if not path.is_file():
                raise TuneError(
                    f"no study {str(study)!r}: neither a manifest file nor a study tune() "
                    f"ran in {folder} (no {path})")
        found, trials = local_source(path, folder)
    except SourceError as error:
        raise TuneError(str(error)) from error
    return TuneResult(found, trials)
