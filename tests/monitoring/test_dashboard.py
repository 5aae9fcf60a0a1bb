"""The chart's Grafana dashboard: regenerated, well formed, decodable by Grafana's own typed
model, and asking only for metrics that carbs-operator exposes (the live test runs its
queries against real data)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import barchart, stat, table, timeseries, xychart
from grafana_foundation_sdk.models import dashboard as model
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from carbs_operator.dashboard import WIDTH, build_dashboard, panels, render
from carbs_operator.k8s.loop_monitor import LoopMonitor
from carbs_operator.k8s.sharding import ShardReport
from carbs_operator.metrics import StudyMetrics
from carbs_optimizer import ScalingLaw
from tests.monitoring.conftest import filled_registry
from tests.monitoring.promql import LABEL_VALUES, VARIABLE, Exposition, expand, problems
from tests.support.builders import quad_spec

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "charts" / "carbs-operator" / "files" / "dashboard.json"
REGENERATE = "python -m carbs_operator.dashboard > charts/carbs-operator/files/dashboard.json"

ALL = {"namespace": ".*", "study": ".*", "window": "1h"}  # the "All" selection
OPTIONS = {"stat": stat.Options, "timeseries": timeseries.Options, "table": table.Options,
           "barchart": barchart.Options, "xychart": xychart.Options}


def _samples(registry: CollectorRegistry) -> Exposition:
    samples: Exposition = {}
    text = generate_latest(registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples


@pytest.fixture(scope="module")
def exposition() -> Exposition:
    """The shared busy study's exposition, plus what it leaves out and the dashboard shows:
    scaling laws with every verdict (update_study with `laws`), and the operator process's
    own shard and event-loop metrics (registered by the k8s runtime, not StudyMetrics)."""
    samples = _samples(filled_registry())
    laws = CollectorRegistry()
    spec = quad_spec()
    StudyMetrics(laws, version="1.2.3").update_study("team-a", "quad", spec, [], laws=[
        ScalingLaw("lr", "log", -0.3, 1.0, 0.9, 6, exponent_interval=(-0.4, -0.2),
                   verdict="law"),
        ScalingLaw("x", "linear", 0.01, 0.1, 0.1, 6, exponent_interval=(-0.1, 0.1),
                   verdict="no law"),
        ScalingLaw("size", "log", None, None, None, 1, verdict="too few trials"),
        ScalingLaw("depth", "log", 0.2, 0.0, 0.5, 6, exponent_interval=(0.1, 0.3),
                   verdict="saturated"),
    ])
    samples |= {name: found for name, found in _samples(laws).items()
                if name.startswith("carbs_scaling_law_")}
    operator = CollectorRegistry()
    monitor = LoopMonitor(operator)
    monitor.lag.observe(0.02)
    monitor.lag_max.set(0.02)
    shards = ShardReport(operator, lambda *_: None)
    assert shards.count is not None
    assert shards.held is not None
    shards.count.labels("carbs-operator-0").set(1)
    shards.held.labels("carbs-operator-0", "3").set(1)
    return samples | _samples(operator)


def queries() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"])
            for panel in panels(build_dashboard()) for target in panel["targets"]]


def variable_queries() -> list[str]:
    return [v["definition"] for v in build_dashboard()["templating"]["list"]
            if v["type"] == "query"]


def test_committed_dashboard_is_regenerated() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        f"{COMMITTED.relative_to(ROOT)} is stale: run `{REGENERATE}` and commit it")


def test_module_prints_the_dashboard() -> None:
    result = subprocess.run([sys.executable, "-m", "carbs_operator.dashboard"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == render()
    assert json.loads(result.stdout)["uid"] == "carbs-operator"


def test_model_shape() -> None:
    dashboard = build_dashboard()
    assert dashboard["schemaVersion"] == 41  # grafana-foundation-sdk's Grafana 11.6 model
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "namespace", "study", "window"}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["window"]["current"]["value"] in variables["window"]["query"].split(",")
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = {p["title"] for p in panels(dashboard)}
    assert {"Cost–objective frontier", "Best objective over time", "Trials finished per hour, "
            "by outcome", "Trials in flight, by phase", "Cumulative cost", "Suggest latency",
            "Trial failure ratio", "Reconcile errors", "Build info", "Trials stopped early",
            "Compute saved", "Share of compute saved by early stopping",
            "Objective scaling law", "Predicted objective at 10×", "Parameters by verdict",
            "Scaling-law exponents", "Scaling-law exponent over time",
            "Shards held, by replica", "Shard holders", "Event-loop lag"} <= titles
    for panel in panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        assert panel["description"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])


def _cells(panel: dict[str, Any]) -> set[tuple[int, int]]:
    pos = panel["gridPos"]
    return {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])}


def test_panels_tile_the_grid_without_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in build_dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["w"] > 0, panel["title"]
        assert pos["h"] > 0, panel["title"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= WIDTH, panel["title"]
        cells = _cells(panel)
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


@pytest.mark.parametrize(("title", "expr"), queries())
def test_panel_query_parses_and_names_exposed_metrics(
    title: str, expr: str, exposition: Exposition
) -> None:
    assert set(VARIABLE.findall(expr)) <= set(ALL), f"{title}: unknown variable in {expr}"
    assert problems(expand(expr, **ALL), exposition) == []


@pytest.mark.parametrize("query", variable_queries())
def test_variable_query_names_exposed_metrics(query: str, exposition: Exposition) -> None:
    match = LABEL_VALUES.match(query)
    assert match, query
    selector = expand(match["selector"], **ALL)
    assert problems(selector, exposition) == []
    metric = selector.split("{")[0]
    assert all(match["label"] in sample for sample in exposition[metric])


def test_check_catches_a_wrong_metric_label_or_value(exposition: Exposition) -> None:
    """The checks above would pass vacuously if problems() found nothing ever."""
    assert problems("carbs_trials{namespace=~\".*\"}", exposition) == [
        "carbs_trials: not in the exposition"]
    assert problems('carbs_trials_total{outcome="fail"}', exposition) == [
        "carbs_trials_total: no sample has outcome='fail'"]
    assert problems('carbs_total_cost{phase="running"}', exposition) == [
        "carbs_total_cost: has no label 'phase'"]
    assert problems("sum by (phase) (carbs_total_cost)", exposition) == [
        "grouping by 'phase', which no selected series has"]


def test_committed_dashboard_decodes_into_grafanas_typed_model() -> None:
    """Grafana's own model reads the shipped JSON back: every panel's options decode as
    its panel type's Options, every target as a Prometheus query, and encoding the decoded
    model again is stable (nothing the model does not know is carried along)."""
    plugins.register_default_plugins()
    shipped = json.loads(COMMITTED.read_text(encoding="utf-8"))
    decoded = model.Dashboard.from_json(shipped)
    assert decoded.schema_version == 41
    assert decoded.panels
    for panel in decoded.panels:
        if isinstance(panel, model.RowPanel):
            continue
        assert panel.type_val in OPTIONS, panel.type_val
        assert isinstance(panel.options, OPTIONS[panel.type_val]), panel.title
        assert panel.targets
        assert all(type(t).__module__.endswith(".prometheus") for t in panel.targets)
    once = json.loads(json.dumps(decoded, cls=JSONEncoder))
    twice = json.loads(json.dumps(model.Dashboard.from_json(once), cls=JSONEncoder))
    assert once == twice


def test_law_table_joins_its_queries_on_the_parameter() -> None:
    """The exponent, its interval and the verdict are four instant queries that Grafana's
    merge transformation joins on their common labels: each must keep exactly the labels
    namespace, study and parameter (the verdict adds its own), or a row splits in two."""
    [law_table] = [p for p in panels(build_dashboard()) if p["title"] == "Scaling-law exponents"]
    assert [t["format"] for t in law_table["targets"]] == ["table"] * 4
    assert all(t["instant"] for t in law_table["targets"])
    groupings = [t["expr"].split("(")[1].split(")")[0] for t in law_table["targets"]]
    assert groupings == ["namespace, study, parameter"] * 3 + [
        "namespace, study, parameter, verdict"]
    bounds = [t["expr"].split('bound="')[1].split('"')[0] for t in law_table["targets"][:3]]
    assert bounds == ["estimate", "low", "high"]
    assert law_table["transformations"][0]["id"] == "merge"
