"""The one way this project makes a Kubernetes API client outside kopf.

In a pod (KUBERNETES_SERVICE_HOST set) the service account comes first, elsewhere the
kubeconfig, as kubectl does; the other is the fallback. The operator, `carbs predict
--cluster`, `carbs ui --cluster` and tune(cluster=True) all call this.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from carbs_operator.errors import InfrastructureError


class KubeConfigError(InfrastructureError, RuntimeError):
    """Neither a kubeconfig nor a service account to reach a cluster with."""


def kube_api_client() -> Any:
    """A kubernetes.client.ApiClient for the current context or pod."""
    from kubernetes import client as k8s
    from kubernetes import config

    loaders: list[Callable[[], Any]] = [config.load_kube_config,
                                        config.load_incluster_config]
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        loaders.reverse()
    problems = []
    for load in loaders:
        try:
            load()
        except (config.ConfigException, OSError) as error:
            problems.append(str(error))
            continue
        return k8s.ApiClient()
    raise KubeConfigError("no kubeconfig and not in a pod: " + "; ".join(problems))


def current_namespace(default: str = "default") -> str:
    """The namespace kubectl would use: the pod's own, else the context's, else `default`."""
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as handle:
            return handle.read().strip() or default
    except OSError:
        pass
    from kubernetes import config

    try:
        _, context = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return default
    return str((context or {}).get("context", {}).get("namespace") or default)
