"""The chart's Grafana dashboard: regenerated, well formed, and asking only for metrics that
carbs_operator.metrics exposes (the live test runs its queries against real data)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from carbs_operator.dashboard import WIDTH, build_dashboard, panels, render
from tests.monitoring.promql import LABEL_VALUES, VARIABLE, Exposition, expand, problems

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "charts" / "carbs-operator" / "files" / "dashboard.json"
REGENERATE = "python -m carbs_operator.dashboard > charts/carbs-operator/files/dashboard.json"

ALL = {"namespace": ".*", "study": ".*", "window": "1h"}  # the "All" selection


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
    assert dashboard["schemaVersion"] == 39
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
            "Compute saved", "Share of compute saved by early stopping"} <= titles
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
