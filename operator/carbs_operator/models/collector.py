"""spec.metricsCollector: where a trial's result comes from.

`Report` (the default) reads what `carbs_operator.report()` published. `StdOut` reads the
primary container's output, so a script written for Katib (printing `loss=0.31`) or one
that prints JSON lines runs unchanged, without importing the SDK. The parsing itself is in
carbs_operator.collectors (stdlib only); this module is the manifest side with its CEL.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from carbs_operator.models.base import Model, cel, raise_problems


class CollectorKind(StrEnum):
    REPORT = "Report"
    STDOUT = "StdOut"


class OutputFormat(StrEnum):
    JSON = "JSON"
    TEXT = "Text"


class MetricStrategyValue(StrEnum):
    MIN = "min"
    MAX = "max"
    LATEST = "latest"


class MetricStrategy(Model):
    """Which of the values a metric was printed with is its result."""

    name: str = Field(min_length=1, max_length=253, description="The metric's name.")
    value: MetricStrategyValue = Field(
        description="min, max or latest (the last printed value, the default for every metric)."
    )


MetricsRegex = Annotated[str, Field(min_length=1, max_length=1024)]


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` cannot capture a (name, value) pair, or None when it can."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        return f"is not a valid regular expression: {error}"
    named = {"name", "value"} <= set(compiled.groupindex)
    if not named and compiled.groups != 2:
        return (f"must capture a metric's name and value: exactly two groups (name, then value) "
                f"or the named groups (?P<name>...) and (?P<value>...); it has {compiled.groups}")
    return None


class MetricsCollector(Model):
    """Where each trial's result is read from."""

    model_config = ConfigDict(json_schema_extra=cel(
        ("self.kind == 'StdOut' || !has(self.format)",
         "format applies to kind StdOut", ".format"),
        ("self.kind == 'StdOut' || !has(self.metricsFormat)",
         "metricsFormat applies to kind StdOut", ".metricsFormat"),
        ("self.kind == 'StdOut' || !has(self.metricStrategies)",
         "metricStrategies applies to kind StdOut", ".metricStrategies"),
        ("!has(self.metricsFormat) || !has(self.format) || self.format == 'Text'",
         "metricsFormat applies to format Text", ".metricsFormat"),
    ))
    kind: CollectorKind = Field(
        CollectorKind.REPORT,
        description="Report (default): the result carbs_operator.report() published (pod "
        "annotation, termination message, or locally CARBS_RESULT_FILE). StdOut: the result "
        "is read from the primary container's output when the trial ends (on a cluster the "
        "operator reads the pod's log, which needs the chart's StdOut collector enabled).",
    )
    format: OutputFormat | None = Field(
        None,
        description="StdOut only. Text (default): every match of metricsFormat is a value of "
        "a metric. JSON: the last line that is a JSON object holding the objective metric is "
        "the result (its numeric fields).",
    )
    metrics_format: list[MetricsRegex] | None = Field(
        None, min_length=1, max_length=16,
        description="StdOut with format Text: regular expressions (Python syntax) that capture "
        "a metric's name and value, as two groups or the named groups name and value. "
        "Default: the name=value form Katib's StdOut collector reads (`loss=0.31`, "
        "`val-acc = 9.1e-1`).",
    )
    metric_strategies: list[MetricStrategy] | None = Field(
        None, min_length=1, max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="StdOut only: for a metric printed many times, keep its min, max or latest "
        "value. Metrics not listed keep the latest.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MetricsCollector:
        problems: list[tuple[str, str]] = []
        if self.kind != CollectorKind.STDOUT:
            problems += [(name, "applies to kind StdOut") for name, value in (
                ("format", self.format), ("metricsFormat", self.metrics_format),
                ("metricStrategies", self.metric_strategies)) if value is not None]
        if self.metrics_format is not None and self.format == OutputFormat.JSON:
            problems.append(("metricsFormat", "applies to format Text"))
        for i, pattern in enumerate(self.metrics_format or []):
            problem = regex_problem(pattern)
            if problem:
                problems.append((f"metricsFormat[{i}]", problem))
        seen: set[str] = set()
        for i, strategy in enumerate(self.metric_strategies or []):
            if strategy.name in seen:
                problems.append((f"metricStrategies[{i}].name",
                                 f"duplicate metric {strategy.name!r}"))
            seen.add(strategy.name)
        raise_problems(problems)
        return self

    @property
    def output_format(self) -> OutputFormat:
        """The format in force (Text when unset)."""
        return self.format or OutputFormat.TEXT

    def strategies(self) -> dict[str, str]:
        """metric name -> min | max | latest, for the metrics listed."""
        return {s.name: s.value.value for s in self.metric_strategies or []}
