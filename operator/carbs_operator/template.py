"""Turn a study's trial template and one trial's parameters into something that runs.

Both runtimes use this module, so a manifest behaves the same under `carbs run` and on a
cluster. Substitution is plain string replacement on data that is already parsed: no shell,
no YAML or JSON re-parsing, so a rendered value can never add, drop or restructure an argv
element or an env entry. The module is pure (stdlib only, no pydantic at runtime) so that
the models package can import its placeholder syntax without a cycle.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from carbs_operator import workloads
from carbs_operator.errors import InvalidInputError

if TYPE_CHECKING:
    from carbs_operator.models import StudySpec

ENV_STUDY = "CARBS_STUDY"
ENV_TRIAL = "CARBS_TRIAL"
ENV_PARAMS = "CARBS_PARAMS"
ENV_PARAM_PREFIX = "CARBS_PARAM_"
ENV_RESULT_FILE = "CARBS_RESULT_FILE"
ENV_TERMINATION_LOG = "CARBS_TERMINATION_LOG"
RESERVED_ENV_NAMES = frozenset({ENV_STUDY, ENV_TRIAL, ENV_PARAMS, ENV_RESULT_FILE})

LABEL_STUDY = "carbs.dev/study"
LABEL_TRIAL = "carbs.dev/trial"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER_NAME = "carbs-operator"

# The first container is the trial; sidecars and init containers are left alone.
FIRST_CONTAINER_PATH = "spec.template.spec.containers[0]"

PLACEHOLDER = re.compile(r"\$\{params\.([^{}]*)\}")
_PLACEHOLDER_START = "${params."


class TemplateError(InvalidInputError, ValueError):
    """A trial cannot be rendered: the parameters do not fit the study's template."""


def is_reserved_env_name(name: str) -> bool:
    """Whether `name` is an env var the runtimes set themselves (users must not set it)."""
    return name in RESERVED_ENV_NAMES or name.startswith(ENV_PARAM_PREFIX)


def placeholder_names(text: str) -> list[str]:
    """The parameter names that `${params.<name>}` placeholders in `text` refer to."""
    return PLACEHOLDER.findall(text)


def has_malformed_placeholder(text: str) -> bool:
    """True for a `${params.` that never closes: it would reach the trial verbatim."""
    return _PLACEHOLDER_START in PLACEHOLDER.sub("", text)


_REPLACED_IN = r"\.(command\[\d+\]|args\[\d+\]|env\[\d+\]\.value)"


def rendered_containers(template: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, container) of the containers whose command, args and env get the parameters:
    a Job's first container; every container of every replica of the other kinds."""
    try:
        kind = workloads.kind_of(template)
    except workloads.WorkloadError:
        return []
    spec = template.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    found = workloads.containers(kind, spec)
    return found[:1] if kind.is_job else found


def template_problems(
    template: Mapping[str, Any], declared: Collection[str], prefix: str = ""
) -> list[tuple[str, str]]:
    """(field path, message) for placeholders that would not render as the user meant.

    A placeholder must name a declared parameter, be well formed, and sit where it is
    replaced (elsewhere it would reach the trial verbatim); the runtime's own env names
    are reserved. `template` is the trial template as plain data; paths get `prefix`.
    """
    problems: list[tuple[str, str]] = []
    known = ", ".join(sorted(declared))
    targets = rendered_containers(template)
    replaced_at = re.compile("|".join(f"(?:{re.escape(path)}{_REPLACED_IN})"
                                      for path, _ in targets) or "(?!)")
    where_replaced = ("the first container's command, args and env values"
                      if len(targets) <= 1 else "containers' command, args and env values")
    for path, text in _strings(template, ""):
        names = placeholder_names(text)
        where = f"{prefix}.{path}" if prefix else path
        if names and not replaced_at.fullmatch(path):
            problems.append((where, f"${{params.<name>}} is replaced only in {where_replaced}"))
            continue
        problems += [(where, f"${{params.{name}}} names no declared parameter (declared: {known})")
                     for name in names if name not in declared]
        if has_malformed_placeholder(text):
            problems.append((where, "unterminated or malformed ${params.<name>} placeholder"))
    for container_path, container in targets:
        env = container.get("env")
        for i, var in enumerate(env if isinstance(env, list) else []):
            name = var.get("name") if isinstance(var, Mapping) else None
            if isinstance(name, str) and is_reserved_env_name(name):
                path = f"{container_path}.env[{i}].name"
                problems.append((f"{prefix}.{path}" if prefix else path,
                                 f"{name} is reserved (set by carbs)"))
    return problems


def _strings(node: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(node, str):
        return [(path, node)]
    if isinstance(node, Mapping):
        return [item for key, value in node.items()
                for item in _strings(value, f"{path}.{key}" if path else str(key))]
    if isinstance(node, list):
        return [item for i, value in enumerate(node) for item in _strings(value, f"{path}[{i}]")]
    return []


def format_param(value: float, integer: bool) -> str:
    """Format a value so the trial parses back exactly what the engine chose.

    Integers print without a fraction (`64`, not `64.0`), floats with `repr`, which is the
    shortest string that round-trips (`0.003`, `1e-05`).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TemplateError(f"must be a number (got {type(value).__name__})")
    if not math.isfinite(value):
        raise TemplateError(f"must be finite (got {value!r})")
    if isinstance(value, int):
        return str(value)
    if integer:
        if not value.is_integer():
            raise TemplateError(f"must be a whole number for an integer parameter (got {value!r})")
        return str(int(value))
    return repr(value)


def _rendered(parameter: Any, value: Any) -> tuple[str, int | float | str]:
    """(text, JSON value) of one parameter's value, after checking it fits the parameter.

    A categorical value is the exact choice string; an ordinal value is the declared entry
    it equals, in that entry's own type (64 stays a number, "base" a string, and a 64.0
    that came back from the API server as 64 renders as the manifest wrote it).
    """
    if parameter.space == "categorical":
        if not (isinstance(value, str) and value in (parameter.choices or [])):
            raise TemplateError(f"must be one of the choices {parameter.choices} (got {value!r})")
        return value, value
    if parameter.space == "ordinal":
        for entry in parameter.values or []:
            same_kind = isinstance(entry, str) == isinstance(value, str)
            if same_kind and not isinstance(value, bool) and entry == value:
                if isinstance(entry, str):
                    return entry, entry
                text = format_param(entry, isinstance(entry, int))
                return text, json.loads(text)
        raise TemplateError(f"must be one of the values {parameter.values} (got {value!r})")
    text = format_param(value, parameter.integer)
    return text, json.loads(text)


def param_values(
    spec: StudySpec, params: Mapping[str, float | str]
) -> dict[str, tuple[str, int | float | str]]:
    """Check `params` against the declared parameters; (text, JSON value) of each."""
    declared = {p.name: p for p in spec.parameters}
    missing = sorted(set(declared) - set(params))
    unknown = sorted(set(params) - set(declared))
    if missing or unknown:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"undeclared {', '.join(unknown)}"] if unknown else []
        raise TemplateError(f"trial parameters do not match the study: {'; '.join(parts)}")
    out: dict[str, tuple[str, int | float | str]] = {}
    for name, parameter in declared.items():
        try:
            out[name] = _rendered(parameter, params[name])
        except TemplateError as exc:
            raise TemplateError(f"parameter {name!r} {exc}") from None
    return out


def param_strings(spec: StudySpec, params: Mapping[str, float | str]) -> dict[str, str]:
    """Check `params` against the declared parameters and format every value."""
    return {name: text for name, (text, _) in param_values(spec, params).items()}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each `${params.<name>}` in `text`; an unknown name is an error, never kept."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(f"placeholder ${{params.{name}}} names no declared parameter")
        return values[name]

    return PLACEHOLDER.sub(replace, text)


def trial_env(
    study_name: str, trial_name: str, spec: StudySpec, params: Mapping[str, float | str]
) -> dict[str, str]:
    """The CARBS_* variables every trial gets, in both runtimes."""
    values = param_values(spec, params)
    strings = {name: text for name, (text, _) in values.items()}
    as_json = {name: value for name, (_, value) in values.items()}
    env = {
        ENV_STUDY: study_name,
        ENV_TRIAL: trial_name,
        ENV_PARAMS: json.dumps(as_json, sort_keys=True, allow_nan=False),
    }
    env.update({ENV_PARAM_PREFIX + name.upper(): text for name, text in strings.items()})
    return env


def _first_container(spec: StudySpec) -> Any:
    template = spec.trial_template.spec.template
    return template.spec.containers[0] if template is not None else None


def template_data(spec: StudySpec) -> dict[str, Any]:
    """The trial template as the plain data it is sent as."""
    return spec.trial_template.model_dump(by_alias=True, exclude_none=True, mode="json")


def workload_kind(spec: StudySpec) -> workloads.WorkloadKind:
    """The workload kind the study's trials run as (a row of workloads.KINDS)."""
    return workloads.kind_of(template_data(spec))


def primary_container(spec: StudySpec) -> tuple[str, dict[str, Any]]:
    """(path, container) that holds the result: the one `carbs run` runs locally, and the
    one whose log a StdOut collector reads."""
    template = template_data(spec)
    kind = workloads.kind_of(template)
    found = workloads.find_primary_container(kind, template.get("spec", {}),
                                             spec.trial_template.primary_container_name)
    if found is None:
        raise TemplateError(f"the {kind.kind} template has no primary container")
    return found


def primary_container_name(spec: StudySpec) -> str:
    path, container = primary_container(spec)
    return workloads.container_name(workload_kind(spec), path, container)


def render_command(spec: StudySpec, params: Mapping[str, float | str]) -> list[str]:
    """The primary container's command + args with placeholders filled, for `carbs run`.

    Locally there is no image, hence no entrypoint to fall back on: a command is required.
    """
    path, container = primary_container(spec)
    if not container.get("command"):
        raise TemplateError(
            f"{path}.command is empty: running locally needs a command "
            "because the image's entrypoint is not used"
        )
    values = param_strings(spec, params)
    parts = [*container["command"], *(container.get("args") or [])]
    return [substitute(str(part), values) for part in parts]


def render_env(
    spec: StudySpec, study_name: str, trial_name: str, params: Mapping[str, float | str]
) -> dict[str, str]:
    """Env vars for a local trial: the primary container's literal env values plus CARBS_*.

    Entries that use `valueFrom` (secrets, the downward API) need a cluster and are skipped.
    """
    values = param_strings(spec, params)
    env: dict[str, str] = {}
    for var in primary_container(spec)[1].get("env") or []:
        name, value = var.get("name"), var.get("value")
        if isinstance(value, str) and not is_reserved_env_name(str(name)):
            env[str(name)] = substitute(value, values)
    env.update(trial_env(study_name, trial_name, spec, params))
    return env


def requested_gpus(spec: StudySpec) -> int:
    """GPUs a Job's first container asks for (any `<vendor>/gpu` limit), for gpuSeconds cost.
    Other kinds are measured pod by pod (pod_gpus)."""
    container = _first_container(spec)
    resources = (container.resources if container is not None else None) or {}
    return limit_gpus(resources.get("limits") or {})


def limit_gpus(limits: Mapping[str, Any]) -> int:
    """The sum of `<vendor>/gpu` quantities in a resources' limits."""
    total = 0
    for key, quantity in limits.items():
        if str(key).endswith("/gpu"):
            try:
                total += int(str(quantity))
            except ValueError:
                raise TemplateError(
                    f"GPU limit {key} must be a whole number (got {quantity!r})"
                ) from None
    return total


def build_job(
    study_name: str,
    namespace: str,
    trial_name: str,
    index: int,
    spec: StudySpec,
    params: Mapping[str, float | str],
    owner_reference: Mapping[str, Any],
) -> dict[str, Any]:
    """A batch/v1 Job for one trial, ready to create.

    The trial's result comes back through the pod annotation and the termination message,
    so CARBS_RESULT_FILE is deliberately not set. POD_NAME and POD_NAMESPACE come from the
    downward API so that `report()` can annotate its own pod. Two Job defaults are changed
    when the template leaves them out: `backoffLimit: 0` (a retried trial would spend its
    cost twice and hide failures from the engine) and `restartPolicy: Never` (Kubernetes
    rejects a Job pod with the Pod default, Always).
    """
    values = param_strings(spec, params)
    template = spec.trial_template.model_dump(by_alias=True, exclude_none=True, mode="json")
    job_spec: dict[str, Any] = copy.deepcopy(template.get("spec", {}))
    job_spec.setdefault("backoffLimit", 0)
    labels = {LABEL_STUDY: study_name, LABEL_TRIAL: trial_name, LABEL_MANAGED_BY: MANAGER_NAME}

    pod = job_spec.setdefault("template", {})
    pod_meta = pod.setdefault("metadata", {})
    pod_meta["labels"] = {**pod_meta.get("labels", {}), **labels}
    pod_spec = pod.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    container = pod_spec["containers"][0]
    if "command" in container:
        container["command"] = [substitute(part, values) for part in container["command"]]
    if "args" in container:
        container["args"] = [substitute(part, values) for part in container["args"]]
    container["env"] = _job_env(container, study_name, trial_name, spec, params, values)

    job_meta = copy.deepcopy(template.get("metadata", {}))
    job_meta.update(
        name=trial_name,
        namespace=namespace,
        labels={**job_meta.get("labels", {}), **labels},
        ownerReferences=[dict(owner_reference)],
    )
    job_meta.setdefault("annotations", {})["carbs.dev/trial-index"] = str(index)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta, "spec": job_spec}


def _job_env(
    container: Mapping[str, Any],
    study_name: str,
    trial_name: str,
    spec: StudySpec,
    params: Mapping[str, float | str],
    values: Mapping[str, str],
) -> list[dict[str, Any]]:
    """CARBS_* first, so the user's own env values may refer to them as `$(CARBS_...)`."""
    user_env = [dict(var) for var in container.get("env", [])]
    env: list[dict[str, Any]] = [
        {"name": name, "value": value}
        for name, value in trial_env(study_name, trial_name, spec, params).items()
    ]
    user_names = {var.get("name") for var in user_env}
    downward = (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"))
    for name, field_path in downward:
        if name not in user_names:
            env.append({"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}})
    if "terminationMessagePath" in container and ENV_TERMINATION_LOG not in user_names:
        env.append({"name": ENV_TERMINATION_LOG, "value": container["terminationMessagePath"]})
    for var in user_env:
        if is_reserved_env_name(str(var.get("name", ""))):
            continue
        if isinstance(var.get("value"), str):
            var["value"] = substitute(var["value"], values)
        env.append(var)
    return env


def build_workload(
    study_name: str,
    namespace: str,
    trial_name: str,
    index: int,
    spec: StudySpec,
    params: Mapping[str, float | str],
    owner_reference: Mapping[str, Any],
) -> dict[str, Any]:
    """The trial's workload object, ready to create: a Job (build_job), or the kind the
    template names with the parameters and CARBS_* env in every container of every replica
    and the carbs.dev labels on the object and its pod templates (TrainJob, which has none:
    in spec.labels, which its controller passes on)."""
    template = template_data(spec)
    kind = workloads.kind_of(template)
    if kind.is_job:
        return build_job(study_name, namespace, trial_name, index, spec, params,
                         owner_reference)
    values = param_strings(spec, params)
    labels = {LABEL_STUDY: study_name, LABEL_TRIAL: trial_name, LABEL_MANAGED_BY: MANAGER_NAME}
    body: dict[str, Any] = copy.deepcopy(template.get("spec", {}))
    for _, pod in workloads.pod_templates(kind, body):
        pod_meta = pod.setdefault("metadata", {})
        pod_meta["labels"] = {**pod_meta.get("labels", {}), **labels}
    if kind.spec_labels:
        body["labels"] = {**body.get("labels", {}), **labels}
    for _, container in workloads.containers(kind, body):
        for key in ("command", "args"):
            if key in container:
                container[key] = [substitute(str(part), values) for part in container[key]]
        container["env"] = _job_env(container, study_name, trial_name, spec, params, values)
    meta = copy.deepcopy(template.get("metadata", {}))
    meta.update(name=trial_name, namespace=namespace,
                labels={**meta.get("labels", {}), **labels},
                ownerReferences=[dict(owner_reference)])
    meta.setdefault("annotations", {})["carbs.dev/trial-index"] = str(index)
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": meta, "spec": body}


def local_run_note(spec: StudySpec) -> str | None:
    """What `carbs run` says about a kind it cannot run whole: one process, the primary
    container, no other replica (None for a Job, which runs as it would on a cluster)."""
    kind = workload_kind(spec)
    if kind.is_job:
        return None
    path, _ = primary_container(spec)
    return (f"{kind.kind} trials run locally as one process: the primary container "
            f"{primary_container_name(spec)!r} ({path}), as {kind.rank0} would; the other "
            "replicas do not run here")
