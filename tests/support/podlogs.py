"""Container logs for the API emulator: ``GET /api/v1/namespaces/NS/pods/NAME/log``.

There is no kubelet here to keep logs, so whoever plays the kubelet (tests/support/kubelet.py)
writes a container's output with ``write`` (all of it at once) or ``append`` (output that
grows while the container runs); each line remembers when it was written. The endpoint then
answers as the API server does: ``text/plain``, ``container`` required when the pod has
several, ``timestamps`` (each line prefixed with its RFC 3339 time in nanoseconds and a
space), ``sinceSeconds``, ``tailLines`` and ``limitBytes`` honoured (in that order: the
lines written since, their tail, then cut to the byte limit, as the kubelet does), 404 for a
pod that is gone, 400 for a container the pod lacks or that never started (no log yet).
Every query is kept in ``queries``, so a test can hold a reader to bounded reads.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

import aiohttp.web
import attrs

Key = tuple[str, str, str]  # (namespace, pod, container)


def _stamp(seconds: float) -> str:
    """RFC 3339 with nanoseconds, as the kubelet prefixes a line under timestamps=true."""
    whole = datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)
    nanos = round((seconds - int(seconds)) * 1e9) % 1_000_000_000
    return whole.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


@attrs.define
class PodLogs:
    """Each container's output as (time written, line) pairs, keyed by (namespace, pod,
    container); a last line without its newline is still being written."""

    lines: dict[Key, list[tuple[float, str]]] = attrs.field(factory=dict)
    queries: list[dict[str, str]] = attrs.field(factory=list)

    @property
    def texts(self) -> dict[Key, str]:
        return {key: "".join(line for _, line in lines) for key, lines in self.lines.items()}

    def write(self, namespace: str, pod: str, container: str, text: str) -> None:
        """The container's whole output, written now (replacing what was there)."""
        self.lines[(namespace, pod, container)] = []
        self.append(namespace, pod, container, text)

    def append(self, namespace: str, pod: str, container: str, text: str) -> None:
        """More output, written now: it completes a partial last line, then adds lines."""
        now = time.time()
        lines = self.lines.setdefault((namespace, pod, container), [])
        for piece in text.splitlines(keepends=True):
            if lines and not lines[-1][1].endswith("\n"):
                lines[-1] = (now, lines[-1][1] + piece)
            else:
                lines.append((now, piece))

    def answer(self, pod: Mapping[str, Any], query: Mapping[str, str]) -> aiohttp.web.Response:
        """The log of one of `pod`'s containers, as the API server answers it."""
        from tests.support.apiserver import ApiError  # the server imports this module

        self.queries.append(dict(query))
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
        lines = self.lines.get((meta["namespace"], meta["name"], container))
        if lines is None:
            raise ApiError(400, "BadRequest", f'container "{container}" in pod '
                           f'"{meta["name"]}" is waiting to start: ContainerCreating')
        if "sinceSeconds" in query:
            since = time.time() - int(query["sinceSeconds"])
            lines = [(when, line) for when, line in lines if when >= since]
        if "tailLines" in query:
            tail = int(query["tailLines"])
            lines = lines[-tail:] if tail else []
        stamped = query.get("timestamps") in ("true", "1")
        text = "".join(f"{_stamp(when)} {line}" if stamped else line for when, line in lines)
        data = text.encode()
        if "limitBytes" in query:
            data = data[:int(query["limitBytes"])]
        return aiohttp.web.Response(body=data, content_type="text/plain", charset="utf-8")
