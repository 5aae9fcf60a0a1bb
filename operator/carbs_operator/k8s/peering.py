"""Whether the operator runs with kopf peering, decided before kopf starts.

kopf pauses, silently and forever, when its peering is mandatory and the peering CRD or
object is missing. So the choice is made here, where it can be said:

- `--standalone`: no peering.
- `--peering NAME` (the chart's choice when replicas > 1): mandatory; a missing peering CRD
  or object is an error that names what to install, and the operator does not start.
- neither (the default): peering when kopf's peering resource is served and the object
  `carbs-operator` exists where the operator watches; otherwise standalone, said in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from carbs_operator.errors import InfrastructureError

DEFAULT_PEERING = "carbs-operator"
PEERING_GROUP, PEERING_VERSION = "kopf.dev", "v1"
CLUSTER_PLURAL, NAMESPACED_PLURAL = "clusterkopfpeerings", "kopfpeerings"


class PeeringError(InfrastructureError):
    """Mandatory peering that cannot work: the message says what is missing."""


@dataclass(frozen=True)
class PeeringChoice:
    standalone: bool
    name: str | None  # the peering object, when peering
    message: str


@dataclass(frozen=True)
class PeeringFacts:
    """What the cluster holds: whether the resource is served, whether the object exists
    (None when it cannot be told, e.g. namespaces given as globs)."""

    served: bool
    exists: bool | None


def where(clusterwide: bool, namespaces: Sequence[str]) -> str:
    if clusterwide:
        return f"a {CLUSTER_PLURAL}.{PEERING_GROUP} object"
    return f"a {NAMESPACED_PLURAL}.{PEERING_GROUP} object in namespace(s) {', '.join(namespaces)}"


def choose(
    *, standalone: bool, requested: str | None, facts: PeeringFacts | None,
    clusterwide: bool, namespaces: Sequence[str],
) -> PeeringChoice:
    """The decision, pure. `facts` is None only when `standalone` (nothing was probed)."""
    if standalone or facts is None:
        return PeeringChoice(True, None, "running standalone (--standalone): no kopf peering; "
                             "run exactly one replica")
    plural = CLUSTER_PLURAL if clusterwide else NAMESPACED_PLURAL
    name = requested or DEFAULT_PEERING
    place = where(clusterwide, namespaces)
    if requested is not None:
        if not facts.served:
            raise PeeringError(
                f"peering is mandatory (--peering {name}), but the API server does not serve "
                f"{plural}.{PEERING_GROUP}: install kopf's peering CRDs (the Helm chart ships "
                "them), or run one replica with --standalone")
        if facts.exists is False:
            raise PeeringError(
                f"peering is mandatory (--peering {name}), but {place} named {name!r} does "
                "not exist: create it (the Helm chart does when replicas > 1), or run one "
                "replica with --standalone")
        return PeeringChoice(False, name, f"running with kopf peering {name!r} (mandatory)")
    if not facts.served:
        return PeeringChoice(True, None, f"kopf's peering resource {plural}.{PEERING_GROUP} is "
                             "not served: running standalone (run exactly one replica)")
    if facts.exists is False:
        return PeeringChoice(True, None, f"no peering object: {place} named {name!r} does not "
                             "exist: running standalone (run exactly one replica)")
    return PeeringChoice(False, name, f"peering object {name!r} found: running with kopf "
                         "peering (replicas share the work: one works, the others stand by)")


def _served(api: k8s.ApiClient, plural: str) -> bool:
    try:
        found: Any = k8s.CustomObjectsApi(api).get_api_resources(PEERING_GROUP, PEERING_VERSION)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return any(r.name == plural for r in (getattr(found, "resources", None) or []))


def _exists(api: k8s.ApiClient, clusterwide: bool, namespaces: Sequence[str],
            name: str) -> bool | None:
    custom = k8s.CustomObjectsApi(api)
    try:
        if clusterwide:
            custom.get_cluster_custom_object(PEERING_GROUP, PEERING_VERSION, CLUSTER_PLURAL,
                                             name)
            return True
        if any(set(ns) & set("*?[") for ns in namespaces):
            return None
        for namespace in namespaces:
            custom.get_namespaced_custom_object(PEERING_GROUP, PEERING_VERSION, namespace,
                                                NAMESPACED_PLURAL, name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def probe(api: k8s.ApiClient, clusterwide: bool, namespaces: Sequence[str],
          name: str) -> PeeringFacts:
    """Ask the API server (blocking; call it in a thread)."""
    plural = CLUSTER_PLURAL if clusterwide else NAMESPACED_PLURAL
    if not _served(api, plural):
        return PeeringFacts(False, None)
    return PeeringFacts(True, _exists(api, clusterwide, namespaces, name))


async def decide_peering(
    api: k8s.ApiClient, *, standalone: bool, requested: str | None, clusterwide: bool,
    namespaces: Sequence[str],
) -> PeeringChoice:
    facts = None
    if not standalone:
        facts = await asyncio.to_thread(probe, api, clusterwide, namespaces,
                                        requested or DEFAULT_PEERING)
    return choose(standalone=standalone, requested=requested, facts=facts,
                  clusterwide=clusterwide, namespaces=namespaces)
