// ECharts set-up shared by the pages: the cost/objective frontier plot, the compare plot,
// and tooltips built as DOM nodes (text only: a parameter value can never become markup).
import * as echarts from "../vendor/echarts-6.1.0.esm.min.mjs";
import { el, num, value } from "./dom.js";

export { echarts };

export const COLORS = {
  Succeeded: "#7b93b9", frontier: "#d9480f", Failed: "#c92a2a", Lost: "#868e96",
  EarlyStopped: "#e8890c", Running: "#2f9e44", Pending: "#adb5bd",
};
export const PALETTE = ["#1c7ed6", "#d9480f", "#2f9e44", "#9c36b5", "#e8890c", "#0c8599",
  "#c2255c", "#5c940d"];
const X_PATH = "path://M2,0L5,3L8,0L10,2L7,5L10,8L8,10L5,7L2,10L0,8L3,5L0,2Z";
const FONT = { fontFamily: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif" };

/** Whether values span enough decades (all positive) that a log axis reads better. */
export function wantsLog(values, decades = 1) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length || finite.some((v) => v <= 0)) return false;
  return Math.log10(Math.max(...finite) / Math.min(...finite)) >= decades;
}

/** A chart in `node`, resized with the window, disposed by the caller via .dispose(). */
export function makeChart(node, name) {
  const chart = echarts.init(node, null, { renderer: "canvas" });
  const resize = () => chart.resize();
  window.addEventListener("resize", resize);
  const dispose = chart.dispose.bind(chart);
  chart.dispose = () => {
    window.removeEventListener("resize", resize);
    if (window.carbsUI.charts[name] && window.carbsUI.charts[name].chart === chart) {
      delete window.carbsUI.charts[name];
    }
    dispose();
  };
  return chart;
}

/** The tooltip of one trial: phase, objective, cost, then every parameter. */
export function trialTooltip(trial, view, extra = null) {
  const rows = [
    ["objective", num(trial.objective)],
    [view.costLabel || "cost", num(trial.cost)],
    ...Object.entries(trial.params || {}).map(([k, v]) => [k, value(v)]),
  ];
  return el("div", { class: "tip" },
    el("div", { class: "tip-title" }, `trial ${trial.index}`, el("span", { class: "tip-phase" },
      ` · ${trial.phase === "EarlyStopped" ? "stopped" : trial.phase}${trial.onFrontier ? " · frontier" : ""}`)),
    extra ? el("div", { class: "tip-extra" }, extra) : null,
    el("table", {}, el("tbody", {}, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))))),
    trial.reason ? el("div", { class: "tip-reason" }, trial.reason) : null,
    el("div", { class: "tip-hint" }, "click to open"));
}

function axis(name, log, extra = {}) {
  return {
    type: log ? "log" : "value", name, nameLocation: "middle", nameGap: 34, scale: true,
    nameTextStyle: { ...FONT, color: "#495057", fontSize: 12 },
    axisLabel: { formatter: (v) => num(v), color: "#495057", ...FONT },
    splitLine: { lineStyle: { color: "#eef0f3" } }, axisLine: { lineStyle: { color: "#adb5bd" } },
    ...extra,
  };
}

export function baseOption() {
  return {
    animation: false, textStyle: FONT,
    grid: { left: 70, right: 24, top: 40, bottom: 56, containLabel: false },
    legend: { top: 6, textStyle: { ...FONT, color: "#343a40" }, itemGap: 16 },
    tooltip: { trigger: "item", confine: true, className: "echarts-tip",
      backgroundColor: "#fff", borderColor: "#ced4da", padding: 8, transitionDuration: 0 },
    toolbox: { right: 8, top: 2, feature: { dataZoom: { filterMode: "none" }, restore: {} },
      iconStyle: { borderColor: "#868e96" } },
    dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "none" },
      { type: "inside", yAxisIndex: 0, filterMode: "none" }],
  };
}

/**
 * The frontier plot: every placed trial at (cost, objective), log cost axis, the frontier
 * drawn as a staircase; failed and lost trials (no objective) sit on a rug at the top.
 */
export function frontierOption(view, { logY = false } = {}) {
  const byIndex = new Map(view.trials.map((t) => [t.index, t]));
  const placed = view.trials.filter((t) => t.cost > 0 && Number.isFinite(t.objective));
  const objectives = placed.map((t) => t.objective);
  const hi = objectives.length ? Math.max(...objectives) : 1;
  const lo = objectives.length ? Math.min(...objectives) : 0;
  const rug = logY ? hi * 1.15 : hi + (hi - lo || Math.abs(hi) || 1) * 0.06;
  const groups = { Succeeded: [], EarlyStopped: [], Running: [], Failed: [], Lost: [] };
  for (const t of view.trials) {
    if (!(t.cost > 0)) continue;
    if (Number.isFinite(t.objective)) {
      const g = t.phase === "EarlyStopped" ? "EarlyStopped" : t.phase === "Running" ? "Running" : "Succeeded";
      groups[g].push([t.cost, t.objective, t.index]);
    } else if (t.phase === "Failed" || t.phase === "Lost") {
      groups[t.phase].push([t.cost, rug, t.index]);
    } else if (t.phase === "Running") {
      groups.Running.push([t.cost, rug, t.index]);
    }
  }
  const front = view.frontier.map((i) => byIndex.get(i)).filter((t) => t && t.cost > 0);
  const frontData = front.map((t) => [t.cost, t.objective, t.index]);
  const big = view.trials.length > 2000;
  const scatter = (name, data, style) => ({
    name, type: "scatter", data, symbolSize: big ? 4 : 7, large: false, progressive: 4000,
    emphasis: { scale: 1.6 }, ...style,
  });
  const option = baseOption();
  option.xAxis = axis(`cost (${view.costLabel || "cost"}, log)`, true);
  option.yAxis = axis(`${view.objective.metric}${logY ? " (log)" : ""}`, logY, { nameGap: 52 });
  option.tooltip.formatter = (p) => {
    const t = byIndex.get(p.data && p.data[2]);
    if (!t) return null;
    const rugNote = !Number.isFinite(t.objective) ? "no objective: shown on the top rug" : null;
    return trialTooltip(t, view, rugNote);
  };
  option.series = [
    scatter("trials", groups.Succeeded, { itemStyle: { color: COLORS.Succeeded, opacity: 0.75 } }),
    scatter("stopped early", groups.EarlyStopped, { symbol: "triangle",
      itemStyle: { color: "#fff", borderColor: COLORS.EarlyStopped, borderWidth: 1.5 } }),
    scatter("running", groups.Running, { symbol: "diamond",
      itemStyle: { color: COLORS.Running } }),
    scatter("failed", groups.Failed, { symbol: X_PATH, itemStyle: { color: COLORS.Failed } }),
    scatter("lost", groups.Lost, { symbol: X_PATH, itemStyle: { color: COLORS.Lost } }),
    { name: "frontier", type: "line", step: "end", data: frontData, symbol: "circle",
      symbolSize: 9, z: 5, lineStyle: { color: COLORS.frontier, width: 2 },
      itemStyle: { color: COLORS.frontier, borderColor: "#fff", borderWidth: 1.5 } },
  ].filter((s) => s.data.length || s.name === "frontier" || s.name === "trials");
  return { option, frontier: front.map((t) => t.index) };
}

/** Several studies' frontiers on one plot; each study's trials faint behind its line. */
export function compareOption(views, { logY = false } = {}) {
  const option = baseOption();
  const metrics = [...new Set(views.map((v) => v.objective.metric))];
  const costs = [...new Set(views.map((v) => v.costLabel))];
  option.xAxis = axis(`cost (${costs.join(" / ")}, log)`, true);
  option.yAxis = axis(metrics.join(" / ") + (logY ? " (log)" : ""), logY, { nameGap: 52 });
  const lookup = new Map();
  option.series = views.flatMap((view, i) => {
    const color = PALETTE[i % PALETTE.length];
    const byIndex = new Map(view.trials.map((t) => [t.index, t]));
    lookup.set(i, { view, byIndex });
    const front = view.frontier.map((j) => byIndex.get(j)).filter((t) => t && t.cost > 0);
    const label = view.namespace && view.namespace !== "local" ? `${view.namespace}/${view.name}` : view.name;
    return [
      { name: label, type: "line", step: "end", z: 5, symbolSize: 8, studyIndex: i,
        data: front.map((t) => [t.cost, t.objective, t.index, i]),
        lineStyle: { color, width: 2 }, itemStyle: { color } },
      { name: label, type: "scatter", symbolSize: 5, studyIndex: i,
        data: view.trials.filter((t) => t.phase === "Succeeded" && t.cost > 0 && Number.isFinite(t.objective))
          .map((t) => [t.cost, t.objective, t.index, i]),
        itemStyle: { color, opacity: 0.22 } },
    ];
  });
  option.tooltip.formatter = (p) => {
    const entry = p.data && lookup.get(p.data[3]);
    const t = entry && entry.byIndex.get(p.data[2]);
    return t ? trialTooltip(t, entry.view, entry.view.name) : null;
  };
  return { option, lookup };
}
