"""Which pod and container of a trial's workload hold its result (pure; both runtimes).

A trial's pods carry the label carbs.dev/trial; the primary pod is the one whose output
and annotations are the result. For a batch/v1 Job that is its pod (the one that
succeeded, when the Job retried); the primary container is the template's first one,
which `carbs run` runs locally as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbs_operator.models import StudySpec


def primary_container_name(spec: StudySpec) -> str:
    """The container whose output a StdOut collector reads."""
    return spec.trial_template.spec.template.spec.containers[0].name


def primary_pod(pods: Sequence[Mapping[str, Any]],
                labels: Mapping[str, str] | None = None) -> Mapping[str, Any] | None:
    """Among the trial's pods that carry `labels`: the last one that succeeded, else the
    last one created (a retried pod's log says why it failed); None when none is left."""
    wanted = dict(labels or {})
    matching = [p for p in pods if wanted.items() <= _labels(p).items()]
    if not matching:
        return None
    ordered = sorted(matching, key=lambda p: str(_meta(p).get("creationTimestamp") or ""))
    succeeded = [p for p in ordered if (p.get("status") or {}).get("phase") == "Succeeded"]
    return (succeeded or ordered)[-1]


def _meta(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = pod.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _labels(pod: Mapping[str, Any]) -> dict[str, str]:
    labels = _meta(pod).get("labels")
    return dict(labels) if isinstance(labels, Mapping) else {}
