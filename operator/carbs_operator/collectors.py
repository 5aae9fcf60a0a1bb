"""Metrics collectors: a trial's result from what it reported or from what it printed.

One pure function per collector kind, used by both runtimes (the local runner hands it the
trial's output.log, the operator the primary pod's log): text in, a result payload or a
failure reason out. Nothing here raises on a trial's output, and every read is bounded,
so a script that prints gigabytes or odd bytes fails its own trial, never the study.

Stdlib only at runtime: the local runner and the operator import it; the models are
typing-only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carbs_operator.learning_curves import MARKER as PROGRESS_MARKER

if TYPE_CHECKING:
    from carbs_operator.models import StudySpec

# A bigger log fails the trial: reading it whole would cost the operator memory per trial.
MAX_OUTPUT_BYTES = 8 * 1024 * 1024
# Longer lines are skipped, bounding what a user's regex is matched against.
MAX_LINE_CHARS = 64 * 1024
# Katib's StdOut form, `name=value`: a name of word characters, dots, dashes and slashes,
# then an optionally signed decimal or scientific number.
DEFAULT_METRICS_FORMAT = (
    r"([A-Za-z_][\w./-]*)\s*=\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
)
REPORT = "Report"
STDOUT = "StdOut"


@dataclass(frozen=True)
class Collected:
    """A result payload for conclude_trial, or why none could be read (fails the trial)."""

    result_text: str | None
    failure: str | None = None


def uses_output(spec: StudySpec) -> bool:
    """Whether the study's results are read from the trials' output (kind StdOut)."""
    return spec.metrics_collector.kind.value == STDOUT


def collect(spec: StudySpec, reported: str | None, output: str | None,
            output_problem: str | None = None) -> Collected:
    """The trial's result under the study's collector.

    `reported` is what report() published (Report); `output` the primary container's
    output (StdOut), or None with `output_problem` saying why it could not be read.
    """
    collector = spec.metrics_collector
    if collector.kind.value != STDOUT:
        return Collected(reported)
    if output is None:
        return Collected(None, output_problem or "no output: the trial's log could not be read")
    too_long = output_too_long(len(output.encode("utf-8", "replace")))
    if too_long:
        return Collected(None, too_long)
    strategies = collector.strategies()
    objective = spec.objective.metric
    if collector.output_format.value == "JSON":
        metrics = metrics_from_json_lines(output, objective, strategies)
        if metrics is None:
            return Collected(None, f"no result: no line of the output is a JSON object holding "
                             f"the objective {objective!r} (metricsCollector StdOut, format JSON)")
    else:
        metrics = metrics_from_text(output, collector.metrics_format or [DEFAULT_METRICS_FORMAT],
                                    strategies)
        if not metrics:
            return Collected(None, "no result: no line of the output matches metricsFormat "
                             "(metricsCollector StdOut, format Text; print e.g. "
                             f"'{objective}=0.31')")
    # A NaN printed for some diagnostic must not fail the trial; one in the objective or
    # the cost metric must, with the parser's reason.
    needed = {objective, spec.cost.metric}
    kept = {k: v for k, v in metrics.items() if math.isfinite(v) or k in needed}
    return Collected(json.dumps(kept, allow_nan=True))


def output_too_long(size: int) -> str | None:
    """The failure reason for an output of `size` bytes, or None when it may be read."""
    if size > MAX_OUTPUT_BYTES:
        return (f"output too long to read its metrics ({size} bytes > {MAX_OUTPUT_BYTES}): "
                "print less, or use metricsCollector kind Report")
    return None


def _lines(text: str) -> Iterator[str]:
    """The lines a result may come from: progress lines (report_progress) are not the
    result, even where a user's pattern or the JSON format would match them."""
    for line in text.splitlines():
        if len(line) <= MAX_LINE_CHARS and PROGRESS_MARKER not in line:
            yield line.strip()


def _number(value: Any) -> float | None:
    """A JSON value as a float, or None for what is not a number (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _pick(values: Sequence[float], strategy: str) -> float:
    """min / max over the finite values (a NaN must not win by comparing false); latest."""
    finite = [v for v in values if math.isfinite(v)]
    if strategy == "min" and finite:
        return min(finite)
    if strategy == "max" and finite:
        return max(finite)
    return values[-1]


def metrics_from_json_lines(text: str, objective: str,
                            strategies: Mapping[str, str]) -> dict[str, float] | None:
    """The numeric fields of the last JSON-object line holding `objective` (None if no line
    does); a metric with strategy min or max takes it over every line that printed it."""
    records: list[dict[str, float]] = []
    for line in _lines(text):
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            data = json.loads(line, parse_constant=float)
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict):
            numbers = {str(k): n for k, v in data.items() if (n := _number(v)) is not None}
            records.append(numbers)
    winner = next((r for r in reversed(records) if objective in r), None)
    if winner is None:
        return None
    metrics = dict(winner)
    for name, strategy in strategies.items():
        values = [r[name] for r in records if name in r]
        if values and strategy != "latest":
            metrics[name] = _pick(values, strategy)
    return metrics


def metrics_from_text(text: str, patterns: Sequence[str],
                      strategies: Mapping[str, str]) -> dict[str, float]:
    """Every (name, value) the patterns capture, line by line; a metric printed many times
    keeps its latest value unless `strategies` says min or max."""
    compiled = [re.compile(p) for p in patterns]
    seen: dict[str, list[float]] = {}
    for line in _lines(text):
        for pattern in compiled:
            for match in pattern.finditer(line):
                name, raw = _name_and_value(match)
                try:
                    value = float(raw or "")
                except ValueError:
                    continue
                if name:
                    seen.setdefault(name, []).append(value)
    return {name: _pick(values, strategies.get(name, "latest")) for name, values in seen.items()}


def _name_and_value(match: re.Match[str]) -> tuple[str, str | None]:
    groups = match.re.groupindex
    if "name" in groups and "value" in groups:
        return (match.group("name") or "").strip(), match.group("value")
    return (match.group(1) or "").strip(), match.group(2)
