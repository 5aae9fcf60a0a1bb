"""The reconciler's reads and writes of a trial's workload, whatever its kind.

The kind comes from the study's trial template (carbs_operator.workloads); these functions
turn it into API calls: which resource to create, get and delete, how to find the pods,
how to judge the state, and where the result is. A kind the operator may not create, or
whose CRD the cluster does not serve, is a sentence for the study's Invalid condition.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from typing import Any

from carbs_operator import workloads
from carbs_operator.collectors import MAX_OUTPUT_BYTES, Collected, collect, uses_output
from carbs_operator.k8s.api import ObjectApi, Resource
from carbs_operator.k8s.trials import JobState, job_state
from carbs_operator.k8s.workload_state import pod_finished, pod_started, workload_state
from carbs_operator.k8s.workload_state import pod_gpus as gpus_of
from carbs_operator.models import StudySpec
from carbs_operator.study import measured_cost
from carbs_operator.template import (
    primary_container_name,
    requested_gpus,
    template_data,
    workload_kind,
)
from carbs_operator.workloads import WorkloadKind

KIND_UNAVAILABLE = "WorkloadKindUnavailable"
DEFAULT_TRIAL_KINDS = frozenset({"Job"})


def resource_of(kind: WorkloadKind) -> Resource:
    return Resource(kind.group, kind.version, kind.plural)


async def kind_problem(api: ObjectApi, spec: StudySpec, allowed: Collection[str]) -> str | None:
    """Why trials of this study's kind cannot be created here, or None."""
    kind = workload_kind(spec)
    where = f"spec.trialTemplate.kind: {kind.kind} ({kind.api_version})"
    if kind.kind not in allowed:
        return (f"{where}: the operator may not create {kind.plural} (allowed: "
                f"{', '.join(sorted(allowed))}); add {kind.kind} to the chart's trialKinds")
    if not kind.is_job and not await api.served(resource_of(kind)):
        return f"{where}: the cluster does not serve {kind.plural}; install its CRD"
    return None


def _conditions(spec: StudySpec, kind: WorkloadKind) -> tuple[str, str] | None:
    """(success, failure) CEL to judge by, or None for a Job read natively."""
    template = spec.trial_template
    if kind.is_job and template.success_condition is None and \
            template.failure_condition is None:
        return None
    return (template.success_condition or kind.success_condition,
            template.failure_condition or kind.failure_condition)


async def read_workload(
    api: ObjectApi, spec: StudySpec, namespace: str, name: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], JobState | None]:
    """(the workload, its pods, its state); (None, [], None) when it does not exist."""
    kind = workload_kind(spec)
    obj = await api.get(resource_of(kind), namespace, name)
    if obj is None:
        return None, [], None
    selector = f"{kind.pod_label}={name}"
    # Pods built from our pod templates carry the study's label, so the study's cache sees
    # them; a TrainJob's controller labels its pods itself, so those are asked for.
    pods = await (api.fresh_pods if kind.spec_labels else api.pods)(namespace, selector)
    state = _state(spec, kind, obj, pods)
    if state.finished:
        # Judged on pods as a cache last saw them; the result is read from them as the
        # server holds them now (the last pod event may still be on its way).
        pods = await api.fresh_pods(namespace, selector)
        state = _state(spec, kind, obj, pods)
    return obj, pods, state


def _state(spec: StudySpec, kind: WorkloadKind, obj: dict[str, Any],
           pods: list[dict[str, Any]]) -> JobState:
    conditions = _conditions(spec, kind)
    if conditions is None:
        return job_state(obj, pods)
    return workload_state(obj, pods, success=conditions[0], failure=conditions[1],
                          primary_labels=primary_labels(spec),
                          container=primary_container_name(spec), now=time.time())


def primary_labels(spec: StudySpec) -> dict[str, str]:
    """The labels of the trial's primary pod (the one whose result and log count)."""
    return workloads.primary_pod_labels(workload_kind(spec), template_data(spec).get("spec", {}),
                                        spec.trial_template.primary_pod_labels)


def cost_so_far(spec: StudySpec, pods: list[dict[str, Any]],
                started_at: float) -> Callable[[float], float | None]:
    """A running trial's measured cost at a moment, as its cost would be measured had it
    ended then: wall time (x the first container's GPUs for a Job read natively), or its
    pods' GPU-seconds for other kinds, through the same study.measured_cost as a finished
    trial. None where cost is a reported metric."""
    pod_gpus = None if _conditions(spec, workload_kind(spec)) is None else \
        [(pod_started(p), pod_finished(p), gpus_of(p)) for p in pods]
    gpus = requested_gpus(spec)

    def at(moment: float) -> float | None:
        gpu_seconds = None if pod_gpus is None else sum(
            count * max(0.0, min(moment, end or moment) - start)
            for start, end, count in pod_gpus if start is not None)
        return measured_cost(spec, moment - started_at, gpus, gpu_seconds)

    return at


async def collect_result(api: ObjectApi, spec: StudySpec, namespace: str,
                         pods: list[dict[str, Any]], state: JobState) -> Collected:
    """The result under spec.metricsCollector; StdOut reads the primary pod's log (bounded)
    once the workload ended well (a failed one already has its reason)."""
    if state.failure is not None:
        return Collected(state.result_text)
    labels = primary_labels(spec)
    pod = workloads.primary_pod(pods, labels)
    if not uses_output(spec):
        if state.result_text is None and pod is None and pods:
            return Collected(None, f"no result: none of the trial's {len(pods)} pods matches "
                             f"primaryPodLabels {labels}")
        return Collected(state.result_text)
    if pod is None:
        return Collected(None, "no output: the trial's primary pod is gone, so its log "
                         f"cannot be read (primaryPodLabels {labels})")
    text, problem = await api.pod_log(namespace, str(pod["metadata"]["name"]),
                                      primary_container_name(spec), MAX_OUTPUT_BYTES + 1)
    # Up to 8 MiB through the user's regexes: in a thread, never on the event loop.
    return await asyncio.to_thread(collect, spec, state.result_text, text, problem)
