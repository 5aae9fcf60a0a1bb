"""`report()` and `report_progress()`: how a training script hands its result, and its
progress while it trains, to whichever runtime started it.

The script does not know whether `carbs run` or the operator started it, so report()
writes every channel that applies: the file named by CARBS_RESULT_FILE (local runs), and in
a pod the container's termination message and the pod's `carbs.dev/result` annotation. The
annotation is best effort (it needs RBAC the pod may lack); its failures only warn, because
the termination message alone is enough for the operator.

report_progress() prints one marked line to stdout (learning_curves.MARKER and a compact
JSON object): both runtimes already read a trial's output, so progress needs no RBAC and no
shared file, and a stopping rule can act on it while the trial runs.

This module runs inside users' training processes: stdlib only, nothing heavy at import,
urllib/ssl imported only when a pod actually patches itself.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from carbs_operator.learning_curves import MARKER, MAX_LINE_BYTES
from carbs_operator.results import MAX_RESULT_BYTES

RESULT_ANNOTATION = "carbs.dev/result"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
TERMINATION_MESSAGE_LIMIT = 4096  # bytes the kubelet keeps of a termination message
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

log = logging.getLogger(__name__)
_lock = threading.Lock()
_reported: dict[str, float] = {}


def report(metrics: Mapping[str, Any] | None = None, /, **kw: Any) -> dict[str, float]:
    """Report this trial's metrics, e.g. `report(val_loss=0.31, flops=2.1e12)`.

    Accepts a mapping, keywords, or both. Calls accumulate: each writes every metric
    reported so far in this process, a later value replacing an earlier one, so a script
    may report as it goes. Non-finite values are written as they are (and the trial is then
    failed with a clear reason); values that are not numbers raise TypeError. Returns what
    was written.
    """
    new = dict(metrics or {})
    duplicated = sorted(set(new) & set(kw))
    if duplicated:
        raise TypeError(f"metric given twice: {', '.join(duplicated)}")
    new.update(kw)
    clean = {_check_name(name): _to_number(name, value) for name, value in new.items()}
    with _lock:
        _reported.update(clean)
        snapshot = dict(_reported)
    bad = [name for name, value in snapshot.items() if not math.isfinite(value)]
    if bad:
        log.warning("carbs: non-finite metrics %s; the trial will be marked failed", bad)
    payload = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
    size = len(payload.encode())
    if size > MAX_RESULT_BYTES:
        raise ValueError(f"result is {size} bytes; the limit is {MAX_RESULT_BYTES}")
    result_file = os.environ.get("CARBS_RESULT_FILE")
    if result_file:
        _write_atomically(Path(result_file), payload)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        _write_termination_message(payload)
        _annotate_own_pod(payload)
    return snapshot


def report_progress(step: int, /, **metrics: Any) -> str:
    """Report progress during training, e.g. `report_progress(epoch, val_loss=0.4, flops=2e11)`.

    `step` is the trainer's own counter (an epoch, an optimizer step), an integer >= 0.
    Report the study's objective metric and, when the study's cost is a metric, the cost
    spent so far: a study with spec.earlyStopping may then stop a trial that is plainly
    worse than its peers at that cost (it gets SIGTERM, so a trainer may save before it
    exits). Prints one `CARBS_PROGRESS {...}` line to stdout and returns it. It is not the
    result: call report() at the end as before. Non-finite values are printed as they are
    (the runtime skips that point); values that are not numbers raise TypeError.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise TypeError(f"step must be an integer >= 0 (got {step!r})")
    if "step" in metrics:
        raise TypeError("'step' is the first argument, not a metric name")
    values = {_check_name(name): _to_number(name, value) for name, value in metrics.items()}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        log.warning("carbs: non-finite progress metrics %s; this point will be ignored", bad)
    line = MARKER + json.dumps({"step": step, **values}, separators=(",", ":"))
    if len(line.encode()) > MAX_LINE_BYTES:
        raise ValueError(f"progress line is over {MAX_LINE_BYTES} bytes: report fewer metrics")
    stdout = sys.stdout
    if stdout is not None:
        try:
            # One write of a whole line, so output from other threads cannot split it.
            stdout.write(line + "\n")
            stdout.flush()
        except (OSError, ValueError) as exc:  # a closed or broken stdout must not end training
            log.warning("carbs: could not print progress: %s", exc)
    return line


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"metric names must be non-empty strings (got {name!r})")
    return name


def _to_number(name: str, value: Any) -> float:
    """Numbers, including numpy and 0-d torch scalars, become float; anything else is a bug
    in the calling script, worth a TypeError at the call rather than a failed trial later."""
    if isinstance(value, bool | str | bytes) or value is None:
        raise TypeError(f"metric {name!r} must be a number (got {type(value).__name__})")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"metric {name!r} must be a number: {exc}") from None


def _write_atomically(path: Path, payload: str) -> None:
    """Temp file + rename, so a reader never sees half a result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_termination_message(payload: str) -> None:
    path = os.environ.get("CARBS_TERMINATION_LOG") or DEFAULT_TERMINATION_LOG
    if len(payload.encode()) > TERMINATION_MESSAGE_LIMIT:
        log.warning("carbs: result is over %d bytes, too big for the termination message; "
                    "relying on the pod annotation", TERMINATION_MESSAGE_LIMIT)
        return
    try:
        Path(path).write_text(payload, encoding="utf-8")
    except OSError as exc:
        log.warning("carbs: could not write the termination message to %s: %s", path, exc)


def _annotate_own_pod(payload: str) -> None:
    """Merge-patch `carbs.dev/result` onto this pod with the service-account token."""
    try:
        request = _annotation_request(payload)
        if request is None:
            return
        import ssl
        import urllib.request

        context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT_DIR / "ca.crt"))
        with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310
            response.read()
    except Exception as exc:  # best effort by design: the termination message suffices
        log.warning("carbs: could not annotate the pod with the result: %s", exc)


def _annotation_request(payload: str) -> Any:
    """The PATCH request, or None (with a warning) when the pod cannot identify itself."""
    import urllib.request

    pod = os.environ.get("POD_NAME") or os.environ.get("HOSTNAME")
    namespace = os.environ.get("POD_NAMESPACE") or _read(SERVICE_ACCOUNT_DIR / "namespace")
    token = _read(SERVICE_ACCOUNT_DIR / "token")
    if not (pod and namespace and token):
        log.warning("carbs: cannot annotate the pod (need POD_NAME, POD_NAMESPACE and a "
                    "service-account token); the termination message still carries the result")
        return None
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    host = f"[{host}]" if ":" in host else host
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    body = json.dumps({"metadata": {"annotations": {RESULT_ANNOTATION: payload}}})
    return urllib.request.Request(
        f"https://{host}:{port}/api/v1/namespaces/{namespace}/pods/{pod}",
        data=body.encode(),
        method="PATCH",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/merge-patch+json",
            "Accept": "application/json",
        },
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _reset_for_tests() -> None:
    """Forget earlier reports; tests call this, training scripts never need to."""
    with _lock:
        _reported.clear()
