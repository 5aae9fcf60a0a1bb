"""Container logs for the API emulator: ``GET /api/v1/namespaces/NS/pods/NAME/log``.

There is no kubelet here to keep logs, so whoever plays the kubelet (tests/support/kubelet.py)
writes a container's output with ``write``; the endpoint then answers as the API server does:
``text/plain``, ``container`` required when the pod has several, ``limitBytes`` and
``tailLines`` honoured, 404 for a pod that is gone, 400 for a container the pod lacks or that
never started (no log yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp.web
import attrs


@attrs.define
class PodLogs:
    """Each container's output, keyed by (namespace, pod, container)."""

    texts: dict[tuple[str, str, str], str] = attrs.field(factory=dict)

    def write(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.texts[(namespace, pod, container)] = text

    def answer(self, pod: Mapping[str, Any], query: Mapping[str, str]) -> aiohttp.web.Response:
        """The log of one of `pod`'s containers, as the API server answers it."""
        from tests.support.apiserver import ApiError  # the server imports this module

        meta, spec = pod["metadata"], pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or []]
        container = query.get("container")
        if container is None:
            if len(names) != 1:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod "
                               f"{meta['name']}, choose one of: {names}")
            container = str(names[0])
        if container not in names:
            raise ApiError(400, "BadRequest",
                           f"container {container} is not valid for pod {meta['name']}")
        text = self.texts.get((meta["namespace"], meta["name"], container))
        if text is None:
            raise ApiError(400, "BadRequest", f'container "{container}" in pod '
                           f'"{meta["name"]}" is waiting to start: ContainerCreating')
        if "tailLines" in query:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(query["tailLines"]):]) if int(query["tailLines"]) else ""
        data = text.encode()
        if "limitBytes" in query:
            data = data[:int(query["limitBytes"])]
        return aiohttp.web.Response(body=data, content_type="text/plain", charset="utf-8")
