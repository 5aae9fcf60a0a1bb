"""The Grafana dashboard for carbs-operator, generated from Python.

Generated rather than edited in Grafana's UI and exported, so that every query lives in one
reviewable place and tests can hold it to the metrics that exist: each query must parse as
PromQL, may only name metrics and labels that `carbs_operator.metrics` exposes, and (in a
live test) must return data from a real Prometheus scraping `carbs run`. Regenerate the
chart's copy after any change:

    python -m carbs_operator.dashboard > charts/carbs-operator/files/dashboard.json

The JSON model is Grafana 10/11's (schemaVersion 39). Queries select studies with
`namespace=~"$namespace", study=~"$study"`, which works the same for the operator and for
`carbs run` (namespace "local"). The operator's target must be scraped with
`honor_labels: true` (`honorLabels: true` on a ServiceMonitor): otherwise Prometheus renames
the study's `namespace` label to `exported_namespace` in favour of the pod's namespace.

Trials and suggestions are sparse events (minutes apart, not per second), so rates and
quantiles use the `$window` variable (default 1h) rather than `$__rate_interval`, which
spans only a few scrapes and would show mostly gaps.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

Json = dict[str, Any]

UID: Final = "carbs-operator"
TITLE: Final = "carbs-operator"
SCHEMA_VERSION: Final = 39
WIDTH: Final = 24  # Grafana's grid is 24 columns wide
DATASOURCE: Final[Json] = {"type": "prometheus", "uid": "${datasource}"}
STUDIES: Final = 'namespace=~"$namespace", study=~"$study"'
BY_STUDY: Final = "namespace, study"
STUDY_LEGEND: Final = "{{namespace}}/{{study}}"
WINDOWS: Final = ("5m", "15m", "30m", "1h", "6h", "1d")
DEFAULT_WINDOW: Final = "1h"


@dataclass(frozen=True)
class Query:
    """One PromQL target. `instant` asks for the latest value only, as a table (the
    frontier and build-info panels show a current state, not a history)."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    kind: str  # Grafana panel type: stat, timeseries, barchart, table
    title: str
    description: str
    queries: tuple[Query, ...]
    width: int
    height: int = 8
    unit: str = "short"
    options: Json = field(default_factory=dict)
    custom: Json = field(default_factory=dict)  # fieldConfig.defaults.custom
    defaults: Json = field(default_factory=dict)  # further fieldConfig.defaults
    transformations: tuple[Json, ...] = ()
    overrides: tuple[Json, ...] = ()  # fieldConfig.overrides


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


def _quantile(metric: str, quantile: float) -> Query:
    """A latency quantile per study from a histogram, over the dashboard's window."""
    expr = (f"histogram_quantile({quantile}, sum by ({BY_STUDY}, le) "
            f"(rate({metric}_bucket{{{STUDIES}}}[$window])))")
    return Query(expr, f"{STUDY_LEGEND} p{round(quantile * 100)}")


def _stat(title: str, description: str, query: Query, width: int, unit: str = "short") -> Panel:
    return Panel(
        "stat", title, description, (query,), width, height=4, unit=unit,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "none", "graphMode": "area", "justifyMode": "auto",
            "orientation": "auto", "textMode": "auto",
        },
    )


SCALE_UP_X: Final = "cost_multiple\\curve"  # the row field groupingToMatrix names
FINISHED: Final = f'carbs_trials_total{{{STUDIES}, outcome=~"succeeded|failed"}}'
FAILED: Final = f'carbs_trials_total{{{STUDIES}, outcome="failed"}}'

ROWS: Final = (
    Row("Study progress", (
        _stat("Best objective", "Objective of the best successful trial of each study.",
              Query(f"carbs_best_objective{{{STUDIES}}}", STUDY_LEGEND), 5),
        _stat("Total cost", "Summed cost of finished trials, in each study's cost unit.",
              Query(f"carbs_total_cost{{{STUDIES}}}", STUDY_LEGEND), 5),
        _stat("Trials finished", "Trials finished since the runner started, by outcome, "
              "over the selected studies (lost: the workload vanished and was replaced).",
              Query(f"sum by (outcome) (carbs_trials_total{{{STUDIES}}})", "{{outcome}}"), 5),
        _stat("Trials in flight", "Trials created and not finished, by phase, over the "
              "selected studies.",
              Query(f"sum by (phase) (carbs_trials_in_flight{{{STUDIES}}})", "{{phase}}"), 5),
        _stat("Frontier points", "Trials on each study's cost/objective Pareto frontier.",
              Query(f"carbs_frontier_points{{{STUDIES}}}", STUDY_LEGEND), 4),
        Panel(
            "barchart", "Cost–objective frontier",
            "The objective the Pareto frontier reaches at each quantile of its costs (0: the "
            "cheapest frontier trial, 1: the dearest), one bar group per study: how much "
            "objective more compute has bought so far.",
            (Query(f'max by (study_key, cost_quantile) (label_join(carbs_frontier_objective'
                   f'{{{STUDIES}}}, "study_key", "/", "namespace", "study"))', instant=True),),
            12,
            options={
                "orientation": "vertical", "showValue": "auto", "stacking": "none",
                "groupWidth": 0.7, "barWidth": 0.9, "xTickLabelRotation": 0,
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "none"},
            },
            transformations=(
                # One row per cost quantile, one column per study.
                {"id": "groupingToMatrix", "options": {
                    "columnField": "study_key", "rowField": "cost_quantile",
                    "valueField": "Value"}},
                {"id": "sortBy", "options": {"sort": [{"field": "cost_quantile\\study_key"}]}},
            ),
        ),
        Panel("timeseries", "Best objective over time",
              "How the best objective of each study improved as trials finished.",
              (Query(f"carbs_best_objective{{{STUDIES}}}", STUDY_LEGEND),), 12),
    )),
    Row("Scale-up", (
        Panel(
            "xychart", "Objective scaling law",
            "The objective's saturating power law L(C) = E + A·C^−α, fitted robustly to the "
            "Pareto frontier (curve law), beside the frontier itself (curve frontier: the best "
            "objective a trial reached at or under that cost), at multiples of the largest "
            "finished trial's cost, extrapolated to 10×; low and high are the bootstrap "
            "interval of the prediction there (status.scaleUp, `carbs predict`). Select one "
            "study: several are folded together.",
            (Query(f"max by (cost_multiple, curve) (carbs_scaleup_objective{{{STUDIES}}})",
                   instant=True),),
            16,
            custom={"show": "points+lines", "pointSize": {"fixed": 6}, "lineWidth": 1},
            options={
                "seriesMapping": "auto", "dims": {"frame": 0, "x": SCALE_UP_X},
                "series": [],
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "none"},
            },
            transformations=(
                # One row per cost multiple, one column per curve, the multiple as a number
                # (the x axis), cheapest first.
                {"id": "groupingToMatrix", "options": {
                    "columnField": "curve", "rowField": "cost_multiple", "valueField": "Value"}},
                {"id": "convertFieldType", "options": {"conversions": [
                    {"targetField": SCALE_UP_X, "destinationType": "number"}]}},
                {"id": "sortBy", "options": {"sort": [{"field": SCALE_UP_X}]}},
            ),
            overrides=({"matcher": {"id": "byName", "options": SCALE_UP_X}, "properties": [
                {"id": "custom.scaleDistribution", "value": {"type": "log", "log": 10}},
                {"id": "displayName", "value": "cost / largest trial cost"}]},),
        ),
        Panel("timeseries", "Predicted objective at 10×",
              "status.scaleUp's objective at 10× the largest finished trial's cost, with its "
              "bootstrap interval, as the study ran: a prediction that settles is one the "
              "frontier supports.",
              tuple(Query(f'carbs_scaleup_objective{{{STUDIES}, cost_multiple="10", '
                          f'curve="{curve}"}}', f"{STUDY_LEGEND} {curve}")
                    for curve in ("law", "low", "high")), 8),
    )),
    Row("Trials", (
        Panel("timeseries", "Trials finished per hour, by outcome",
              "Rate of finished trials over the window, per hour.",
              (Query(f"sum by ({BY_STUDY}, outcome) "
                     f"(rate(carbs_trials_total{{{STUDIES}}}[$window])) * 3600",
                     f"{STUDY_LEGEND} {{{{outcome}}}}"),), 8),
        Panel("timeseries", "Trials in flight, by phase",
              "Pending: created, waiting for capacity. Running: started.",
              (Query(f"sum by ({BY_STUDY}, phase) (carbs_trials_in_flight{{{STUDIES}}})",
                     f"{STUDY_LEGEND} {{{{phase}}}}"),), 8,
              custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 30}),
        Panel("timeseries", "Trial failure ratio",
              "Failed / (succeeded + failed) over the window; lost trials are replaced and "
              "early-stopped ones did not fail, so they count in neither. Empty while no "
              "trial finished in the window.",
              (Query(f"sum by ({BY_STUDY}) (increase({FAILED}[$window])) / "
                     f"(sum by ({BY_STUDY}) (increase({FINISHED}[$window])) > 0)",
                     STUDY_LEGEND),), 8,
              unit="percentunit", defaults={"min": 0, "max": 1}),
        Panel("timeseries", "Cumulative cost",
              "Summed cost of finished trials, in each study's cost unit: what the study "
              "has spent, against spec.budget.maxTotalCost.",
              (Query(f"carbs_total_cost{{{STUDIES}}}", STUDY_LEGEND),), 12),
        Panel("timeseries", "Time since a trial last finished",
              "Seconds since the latest trial of the study concluded (before any has, since "
              "its first trial was created). The CarbsStudyStalled alert fires when this "
              "grows past its threshold while trials are in flight.",
              (Query(f"time() - carbs_last_trial_finished_timestamp_seconds{{{STUDIES}}}",
                     STUDY_LEGEND),), 12, unit="s"),
    )),
    Row("Early stopping", (
        _stat("Trials stopped early", "Trials spec.earlyStopping stopped (phase "
              "EarlyStopped), over the selected studies: they count toward maxTrials, "
              "never as failures.",
              Query(f"sum(carbs_early_stopped_trials{{{STUDIES}}})", "stopped early"), 6),
        _stat("Compute saved", "Compute early stopping saved, over the selected studies, in "
              "their cost unit (an estimate: each stopped trial's predicted full cost, else "
              "the study's median succeeded cost, less what it spent).",
              Query(f"sum(carbs_early_stopping_saved_cost{{{STUDIES}}})", "saved"), 6),
        Panel("timeseries", "Share of compute saved by early stopping",
              "Saved / (spent + saved), per study: the compute the study would have spent "
              "without early stopping that it did not. Empty while nothing was spent.",
              (Query(f"carbs_early_stopping_saved_cost{{{STUDIES}}} / "
                     f"((carbs_total_cost{{{STUDIES}}} + "
                     f"carbs_early_stopping_saved_cost{{{STUDIES}}}) > 0)",
                     STUDY_LEGEND),), 12, height=4,
              unit="percentunit", defaults={"min": 0, "max": 1}),
        Panel("timeseries", "Trials stopped early, over time",
              "EarlyStopped trials of each study as it ran.",
              (Query(f"carbs_early_stopped_trials{{{STUDIES}}}", STUDY_LEGEND),), 12),
        Panel("timeseries", "Compute saved, over time",
              "The saved-compute estimate of each study as it ran, in its cost unit, beside "
              "what it spent (Cumulative cost).",
              (Query(f"carbs_early_stopping_saved_cost{{{STUDIES}}}", f"{STUDY_LEGEND} saved"),
               Query(f"carbs_total_cost{{{STUDIES}}}", f"{STUDY_LEGEND} spent")), 12),
    )),
    Row("Engine", (
        Panel("timeseries", "Suggest latency",
              "p50 and p95 of the time to compute one suggestion (a GP fit plus an "
              "acquisition search), over the window.",
              (_quantile("carbs_suggest_duration_seconds", 0.5),
               _quantile("carbs_suggest_duration_seconds", 0.95)), 12, unit="s"),
        Panel("timeseries", "GP fit latency",
              "p50 and p95 of the time to fit the surrogate models once, over the window.",
              (_quantile("carbs_gp_fit_duration_seconds", 0.5),
               _quantile("carbs_gp_fit_duration_seconds", 0.95)), 12, unit="s"),
    )),
    Row("Operator", (
        Panel("timeseries", "Reconcile errors",
              "Reconciles of each study that raised an error, counted over the window. "
              "Occasional errors are retried; a steady count means the study cannot progress "
              "(see the operator's log and the study's events).",
              (Query(f"sum by ({BY_STUDY}) "
                     f"(increase(carbs_reconcile_errors_total{{{STUDIES}}}[$window]))",
                     STUDY_LEGEND),), 12),
        Panel("table", "Build info",
              "Version of each carbs-operator (or carbs run) process scraped.",
              (Query("max by (job, instance, version) (carbs_build_info)", instant=True),),
              12,
              options={"showHeader": True, "cellHeight": "sm"},
              transformations=(
                  {"id": "organize", "options": {"excludeByName": {"Time": True,
                                                                   "Value": True}}},
              )),
    )),
)


def _target(query: Query, ref_id: str) -> Json:
    return {
        "datasource": DATASOURCE,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "refId": ref_id,
        "instant": query.instant,
        "range": not query.instant,
        "format": "table" if query.instant else "time_series",
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> Json:
    defaults: Json = {"unit": panel.unit, **panel.defaults}
    if panel.custom:
        defaults["custom"] = panel.custom
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": [_target(q, chr(ord("A") + i)) for i, q in enumerate(panel.queries)],
        "fieldConfig": {"defaults": defaults, "overrides": list(panel.overrides)},
        "options": panel.options or {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
        "transformations": list(panel.transformations),
    }


def _layout(rows: Sequence[Row]) -> list[Json]:
    """Row headers, then each row's panels left to right, wrapping at 24 columns."""
    panels: list[Json] = []
    y = 0
    for row in rows:
        panels.append({"id": len(panels) + 1, "type": "row", "title": row.title,
                       "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y}})
        y += 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel(panel, len(panels) + 1, x, y))
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return panels


def _query_variable(name: str, label: str, query: str) -> Json:
    """A multi-select label variable whose "All" is `.*`, so a study created after the
    dashboard loaded is included without a reload."""
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "refresh": 2,  # on time range change: studies come and go
        "multi": True, "includeAll": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1, "regex": "", "hide": 0, "options": [],
    }


VARIABLES: Final[tuple[Json, ...]] = (
    {"name": "datasource", "label": "Data source", "type": "datasource",
     "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
     "options": []},
    _query_variable("namespace", "Namespace", "label_values(carbs_trials_total, namespace)"),
    _query_variable("study", "Study",
                    'label_values(carbs_trials_total{namespace=~"$namespace"}, study)'),
    {"name": "window", "label": "Window", "type": "custom", "query": ",".join(WINDOWS),
     "description": "Window of the rates, ratios and latency quantiles: trials and "
                    "suggestions are minutes apart, so short windows are mostly empty.",
     "current": {"selected": True, "text": DEFAULT_WINDOW, "value": DEFAULT_WINDOW},
     "options": [{"selected": w == DEFAULT_WINDOW, "text": w, "value": w} for w in WINDOWS],
     "multi": False, "includeAll": False, "hide": 0},
)


def build_dashboard() -> Json:
    """The dashboard's JSON model, ready for Grafana's provisioning or its import dialog."""
    return {
        "uid": UID,
        "title": TITLE,
        "description": "Cost-aware hyperparameter studies run by carbs-operator or carbs run.",
        "tags": ["carbs", "hyperparameter-tuning"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "templating": {"list": list(VARIABLES)},
        "panels": _layout(ROWS),
        "links": [],
    }


def panels(dashboard: Json) -> Iterator[Json]:
    """Every panel that queries, including those inside collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def render() -> str:
    """The dashboard as the chart stores it: stable key order, two-space indent."""
    return json.dumps(build_dashboard(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
