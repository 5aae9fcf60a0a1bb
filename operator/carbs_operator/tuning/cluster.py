"""tune(cluster=True): apply the CarbsStudy through the Kubernetes API, follow it, read it back.

The operator does the rest, as for a `kubectl apply`: one CarbsTrial and one Job per trial,
whose container runs `python -m carbs_operator.tuning.trial` with the function in its env.
This side only creates the object and reads: it polls the study's status until its phase
is final (Succeeded, Failed) and then reads the trials as `carbs predict --cluster` does.

A study of that name already there is adopted when it is the same search (its objective,
cost and parameters), as `carbs run` resumes local state; another search under the name is
an error. Interrupting the follow leaves the study running on the cluster.
"""

from __future__ import annotations

import sys
import time
from typing import Any, cast

from carbs_operator.errors import InfrastructureError
from carbs_operator.models import CarbsStudy
from carbs_operator.search_signature import search_signature
from carbs_operator.tuning.manifest import manifest_of
from carbs_operator.tuning.result import TuneResult
from carbs_operator.validation import ManifestError, parse_study

FINAL_PHASES = ("Succeeded", "Failed")


class ClusterTuneError(InfrastructureError, RuntimeError):
    """The study could not be created, or ended Invalid; the message says why."""


def run_on_cluster(study: CarbsStudy, *, api_client: Any = None, poll_seconds: float = 2.0,
                   progress: bool = True, timeout_seconds: float | None = None) -> TuneResult:
    """Create (or adopt) the study, wait until it is final, and return its result."""
    from kubernetes import client as k8s

    from carbs_operator.k8s.api import STUDIES
    from carbs_operator.kube_client import kube_api_client
    from carbs_operator.predict_command import cluster_source

    name = study.metadata.name or "study"
    namespace = study.metadata.namespace or "default"
    api = k8s.CustomObjectsApi(api_client if api_client is not None else kube_api_client())
    _create_or_adopt(api, study, STUDIES, namespace, name)
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if progress else None
    if say is not None:
        say(f"study {namespace}/{name} applied; following it (Ctrl-C stops following, "
            "not the study)")
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    shown = ""
    while True:
        body = cast(dict[str, Any], api.get_namespaced_custom_object(
            STUDIES.group, STUDIES.version, namespace, STUDIES.plural, name))
        status = body.get("status") or {}
        phase = str(status.get("phase") or "Pending")
        line = f"{name}: {phase} {status.get('progress') or ''}".rstrip()
        if say is not None and line != shown:
            say(line)
            shown = line
        if phase == "Invalid":
            reasons = "; ".join(str(c.get("message")) for c in status.get("conditions") or []
                                if c.get("message"))
            raise ClusterTuneError(f"study {namespace}/{name} is Invalid: {reasons}")
        if phase in FINAL_PHASES:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"study {namespace}/{name} not finished after "
                               f"{timeout_seconds} s; it keeps running")
        time.sleep(poll_seconds)
    found, trials = cluster_source(f"{namespace}/{name}", api.api_client)
    return TuneResult(found, trials, namespace=namespace)


def _create_or_adopt(api: Any, study: CarbsStudy, resource: Any, namespace: str,
                     name: str) -> None:
    from kubernetes.client.exceptions import ApiException

    body = manifest_of(study)
    body["metadata"]["namespace"] = namespace
    try:
        api.create_namespaced_custom_object(resource.group, resource.version, namespace,
                                            resource.plural, body)
        return
    except ApiException as error:
        if error.status != 409:
            raise ClusterTuneError(
                f"creating CarbsStudy {namespace}/{name}: {error.status} {error.reason}: "
                f"{error.body}") from error
    existing = cast(dict[str, Any], api.get_namespaced_custom_object(
        resource.group, resource.version, namespace, resource.plural, name))
    try:
        same = search_signature(parse_study(existing).spec) == search_signature(study.spec)
    except ManifestError:
        same = False
    if not same:
        raise ClusterTuneError(
            f"a CarbsStudy {namespace}/{name} already exists with another search; pass "
            "another name= (or delete that study)")
