// The study page's tabs other than the table: parallel coordinates, learning curves,
// scaling laws, scale-up prediction, importance and the manifest. Each panel is
// (node, {key, open}) -> {update(view), dispose()}; update runs again on every new revision.
import { api } from "./api.js";
import { el, replace, num, value, kvTable, objectiveLabel } from "./dom.js";
import { makeChart, baseOption, trialTooltip, wantsLog, COLORS, PALETTE } from "./charts.js";

const isCategorical = (p) => p.space === "categorical" || p.space === "ordinal" ||
  (p.choices && p.choices.length) || (p.values && p.values.length);

function chartBox(node, cls = "chart") {
  const box = el("div", { class: cls });
  node.appendChild(box);
  return box;
}

// --- parallel coordinates -----------------------------------------------------------------

function parallelPanel(node, { open }) {
  replace(node, el("div", { class: "card-head" }, el("h2", {}, "Parallel coordinates"),
    el("span", { class: "muted small" }, "Succeeded trials; colour by objective, frontier in orange. Drag along an axis to select a range.")));
  const chart = makeChart(chartBox(node, "chart chart-tall"), "parallel");
  let trials = [];
  chart.on("click", (p) => { const t = trials[p.dataIndex]; if (t && p.seriesName === "frontier") open(p.data[p.data.length - 1]); else if (t) open(t.index); });
  return {
    async update(view) {
      const params = view.parameters;
      const axes = params.map((p, i) => {
        const cat = isCategorical(p);
        const cats = cat ? (p.choices || p.values || []).map(String) : undefined;
        return { dim: i, name: p.name, type: cat ? "category" : p.space === "log" ? "log" : "value",
          data: cats, scale: true, axisLabel: { formatter: cat ? undefined : (v) => num(v) } };
      });
      const od = params.length;
      const logObjective = wantsLog(view.trials.filter((t) => t.phase === "Succeeded").map((t) => t.objective));
      axes.push({ dim: od, name: objectiveLabel(view.objective), type: logObjective ? "log" : "value", scale: true,
        axisLabel: { formatter: (v) => num(v) }, nameTextStyle: { fontWeight: "bold" } });
      axes.push({ dim: od + 1, name: `${view.costLabel || "cost"} (log)`, type: "log",
        axisLabel: { formatter: (v) => num(v) } });
      trials = view.trials.filter((t) => t.phase === "Succeeded" && Number.isFinite(t.objective) && t.cost > 0);
      const row = (t) => [...params.map((p) => (isCategorical(p) ? String(t.params[p.name]) : t.params[p.name])),
        t.objective, t.cost, t.index];
      const objectives = trials.map((t) => t.objective);
      const front = trials.filter((t) => t.onFrontier);
      const byIndex = new Map(view.trials.map((t) => [t.index, t]));
      const option = {
        animation: false,
        parallel: { left: 60, right: 150, top: 50, bottom: 40,
          parallelAxisDefault: { nameLocation: "end", nameGap: 16, nameTextStyle: { color: "#343a40", fontSize: 12 },
            axisLine: { lineStyle: { color: "#adb5bd" } }, axisLabel: { color: "#495057" } } },
        parallelAxis: axes,
        visualMap: { type: "continuous", dimension: od, seriesIndex: 0, right: 8, top: "middle",
          min: objectives.length ? Math.min(...objectives) : 0, max: objectives.length ? Math.max(...objectives) : 1,
          inRange: { color: view.objective.direction === "maximize" ? ["#d0d7e2", "#1c7ed6"] : ["#1c7ed6", "#d0d7e2"] },
          text: ["worse", "better"].map((s, i) => (view.objective.direction === "maximize" ? ["better", "worse"][i] : s)),
          calculable: true, formatter: (v) => num(v) },
        tooltip: { trigger: "item", confine: true, backgroundColor: "#fff", borderColor: "#ced4da",
          formatter: (p) => { const t = byIndex.get(p.data[p.data.length - 1]); return t ? trialTooltip(t, view) : null; } },
        series: [
          { name: "trials", type: "parallel", data: trials.map(row), lineStyle: { width: 1, opacity: trials.length > 1000 ? 0.25 : 0.55 },
            progressive: 2000, smooth: false, triggerLineEvent: true },
          { name: "frontier", type: "parallel", data: front.map(row), z: 5,
            lineStyle: { width: 2.5, opacity: 0.95, color: COLORS.frontier } },
        ],
      };
      chart.setOption(option, { notMerge: true });
    },
    dispose: () => chart.dispose(),
  };
}

// --- learning curves ----------------------------------------------------------------------

const MAX_CURVES = 400;

function curvesPanel(node, { key, open }) {
  const noteNode = el("span", { class: "muted small" });
  replace(node, el("div", { class: "card-head" }, el("h2", {}, "Learning curves"), noteNode));
  const chart = makeChart(chartBox(node, "chart chart-tall"), "curves");
  let shown = [];
  chart.on("click", (p) => { const c = shown[p.seriesIndex]; if (c) open(c.index); });
  return {
    async update(view) {
      const curves = await api.curves(key);
      const byIndex = new Map(view.trials.map((t) => [t.index, t]));
      const all = curves.trials.filter((c) => c.points && c.points.length);
      const rank = (c) => (byIndex.get(c.index)?.onFrontier ? 0 : c.stopped ? 1 : c.phase === "Running" ? 2 : 3);
      shown = [...all].sort((a, b) => rank(a) - rank(b) || b.index - a.index).slice(0, MAX_CURVES);
      noteNode.textContent = `${curves.metric} by step, from report_progress; stopped trials dashed, ✕ where they stopped.` +
        (all.length > shown.length ? ` Showing ${shown.length} of ${all.length} (frontier, stopped and running first).` : "");
      const group = (c) => (byIndex.get(c.index)?.onFrontier ? "frontier" : c.stopped ? "stopped early" : c.phase === "Running" ? "running" : "other trials");
      const color = { frontier: COLORS.frontier, "stopped early": COLORS.EarlyStopped, running: COLORS.Running, "other trials": COLORS.Succeeded };
      const series = shown.map((c) => {
        const g = group(c);
        return { name: g, type: "line", data: c.points, showSymbol: false, triggerLineEvent: true,
          z: g === "frontier" ? 4 : 2, emphasis: { focus: "series", lineStyle: { width: 3 } },
          lineStyle: { color: color[g], width: g === "other trials" ? 1 : 1.8, type: c.stopped ? "dashed" : "solid",
            opacity: g === "other trials" ? 0.45 : 0.95 }, itemStyle: { color: color[g] } };
      });
      const stops = shown.filter((c) => c.stopped).map((c) => {
        const last = c.points[c.points.length - 1];
        return [last[0], last[1], c.index];
      });
      series.push({ name: "stopped early", type: "scatter", data: stops, symbol: "path://M2,0L5,3L8,0L10,2L7,5L10,8L8,10L5,7L2,10L0,8L3,5L0,2Z",
        symbolSize: 9, z: 6, itemStyle: { color: COLORS.EarlyStopped } });
      const option = baseOption();
      option.xAxis = { type: "value", name: "step", nameLocation: "middle", nameGap: 30, scale: true,
        axisLabel: { formatter: (v) => num(v) }, splitLine: { lineStyle: { color: "#eef0f3" } } };
      const logY = wantsLog(shown.flatMap((c) => c.points.map((p) => p[1])));
      option.yAxis = { type: logY ? "log" : "value", name: curves.metric + (logY ? " (log)" : ""), nameLocation: "middle", nameGap: 52, scale: true,
        axisLabel: { formatter: (v) => num(v) }, splitLine: { lineStyle: { color: "#eef0f3" } } };
      option.tooltip.formatter = (p) => {
        const index = p.seriesType === "scatter" ? p.data[2] : shown[p.seriesIndex]?.index;
        const t = byIndex.get(index);
        const c = shown.find((x) => x.index === index);
        return t ? trialTooltip(t, view, c && c.stopped ? `stopped at step ${c.stopStep ?? "?"}` : null) : null;
      };
      option.series = series;
      chart.setOption(option, { notMerge: true });
    },
    dispose: () => chart.dispose(),
  };
}

// --- scaling laws -------------------------------------------------------------------------

const VERDICT_CLASS = { law: "v-law", "no law": "v-nolaw", saturated: "v-saturated", "too few trials": "v-toofew" };

function lawWords(law) {
  const parts = [];
  if (law.exponent !== null && law.exponent !== undefined) {
    const what = law.space === "log" ? "exponent" : "slope per decade of cost";
    parts.push(`${what} ${num(law.exponent)}` + (law.interval ? ` (80% interval ${num(law.interval[0])} to ${num(law.interval[1])})` : " (no interval)"));
  }
  if (law.r2 !== null && law.r2 !== undefined) {
    parts.push(law.r2 >= 0 ? `R² ${num(law.r2)}` : "R² below 0: the line does not describe these points");
  }
  parts.push(`${law.points} frontier point${law.points === 1 ? "" : "s"}`);
  if (law.fit) parts.push(`fit: ${law.fit}`);
  if (law.heldValue !== null && law.heldValue !== undefined) parts.push(`the frontier holds it near ${value(law.heldValue)}`);
  if (law.saturationCost) parts.push(`saturates past ${num(law.saturationCost)}`);
  return parts.join("; ");
}

function lawChart(box, law, view) {
  const byIndex = new Map(view.trials.map((t) => [t.index, t]));
  const front = view.frontier.map((i) => byIndex.get(i)).filter((t) => t && t.cost > 0 && typeof t.params[law.parameter] === "number");
  const logY = law.space === "log";
  const line = (law.line || []).filter((p) => Number.isFinite(p.value));
  const band = line.filter((p) => Number.isFinite(p.low) && Number.isFinite(p.high));
  const chart = makeChart(box, `law:${law.parameter}`);
  const option = baseOption();
  option.grid = { left: 64, right: 16, top: 30, bottom: 44 };
  option.toolbox = { show: false };
  option.legend = { show: false };
  option.xAxis = { type: "log", name: `cost (log)`, nameLocation: "middle", nameGap: 26, scale: true, axisLabel: { formatter: (v) => num(v) } };
  option.yAxis = { type: logY ? "log" : "value", name: law.parameter, nameLocation: "end", scale: true,
    axisLabel: { formatter: (v) => num(v) }, splitLine: { lineStyle: { color: "#eef0f3" } } };
  option.tooltip.formatter = (p) => {
    if (p.seriesName === "frontier") { const t = byIndex.get(p.data[2]); return t ? trialTooltip(t, view) : null; }
    if (p.seriesName === "law") {
      const point = line[p.dataIndex];
      return el("div", { class: "tip" }, el("div", { class: "tip-title" }, `${law.parameter} by the law`),
        kvTable([["cost", num(point.cost)], ["value", num(point.value)], ["band", `${num(point.low)} to ${num(point.high)}`]]));
    }
    return null;
  };
  option.series = [
    { name: "band", type: "custom", silent: true, z: 1, data: band.flatMap((p) => [[p.cost, p.low], [p.cost, p.high]]),
      renderItem: (params, api) => {
        if (params.dataIndex !== 0 || band.length < 2) return null;
        const upper = band.map((p) => api.coord([p.cost, p.high]));
        const lower = band.map((p) => api.coord([p.cost, p.low])).reverse();
        return { type: "polygon", shape: { points: [...upper, ...lower] }, style: { fill: "rgba(28,126,214,0.14)", stroke: "none" } };
      } },
    { name: "law", type: "line", data: line.map((p) => [p.cost, p.value]), showSymbol: false, z: 3,
      lineStyle: { color: "#1c7ed6", width: 2 }, itemStyle: { color: "#1c7ed6" },
      // Where the objective stops improving: no law extrapolates past it.
      markLine: law.saturationCost ? { symbol: "none", silent: true, lineStyle: { color: COLORS.EarlyStopped, type: "dashed" },
        label: { formatter: "saturates", color: COLORS.EarlyStopped }, data: [{ xAxis: law.saturationCost }] } : undefined },
    { name: "frontier", type: "scatter", data: front.map((t) => [t.cost, t.params[law.parameter], t.index]), z: 4,
      symbolSize: 8, itemStyle: { color: COLORS.frontier, borderColor: "#fff", borderWidth: 1 } },
  ];
  chart.setOption(option, { notMerge: true });
  return chart;
}

function lawsPanel(node, { open }) {
  let charts = [];
  const dispose = () => { charts.forEach((c) => c.dispose()); charts = []; };
  return {
    async update(view) {
      dispose();
      const cards = view.laws.map((law) => {
        const verdict = el("span", { class: `verdict ${VERDICT_CLASS[law.verdict] || ""}` }, law.verdict || "—");
        const box = el("div", { class: "chart chart-law" });
        const bands = law.bands && law.bands.length ? el("table", { class: "grid compact" },
          el("thead", {}, el("tr", {}, ["value", "from cost", "to cost", "points"].map((h) => el("th", {}, h)))),
          el("tbody", {}, law.bands.map((b) => el("tr", {}, el("td", {}, value(b.value)), el("td", { class: "num" }, num(b.minCost)),
            el("td", { class: "num" }, num(b.maxCost)), el("td", { class: "num" }, String(b.points)))))) : null;
        const card = el("div", { class: "law", dataset: { parameter: law.parameter } },
          el("div", { class: "law-head" }, el("h3", {}, law.parameter), verdict, el("span", { class: "muted small" }, law.space)),
          el("p", { class: "reading" }, law.reading || ""),
          el("p", { class: "muted small" }, lawWords(law)),
          law.line && law.line.length ? box : null, bands);
        return { card, box, law };
      });
      replace(node, el("div", { class: "card-head" }, el("h2", {}, "Scaling laws along the frontier"),
        el("span", { class: "muted small" }, "Each parameter's best value against cost: the law's line, its 80% band, and the frontier's points.")),
      cards.length ? el("div", { class: "laws" }, cards.map((c) => c.card))
        : el("p", { class: "muted" }, "No laws yet: the frontier needs more points."));
      charts = cards.filter((c) => c.law.line && c.law.line.length).map((c) => {
        const chart = lawChart(c.box, c.law, view);
        chart.on("click", (p) => { if (p.seriesName === "frontier") open(p.data[2]); });
        return chart;
      });
    },
    dispose,
  };
}

// --- scale-up prediction ------------------------------------------------------------------

function predictPanel(node, { key }) {
  const input = el("input", { type: "text", id: "predict-cost", inputmode: "decimal", placeholder: "e.g. 1e18", size: 16, "aria-label": "cost" });
  const button = el("button", { type: "submit", class: "btn" }, "Predict");
  const out = el("div", { id: "predict-result" });
  const form = el("form", { class: "predict-form" }, el("label", { for: "predict-cost" }, "Cost: "), input, " ", button);
  let view = null;
  const run = async () => {
    const cost = input.value.trim();
    if (!cost) return;
    replace(out, el("p", { class: "muted" }, "Predicting…"));
    try {
      const r = await api.predict(key, cost);
      if (r.error) { replace(out, el("p", { class: "error" }, r.error)); return; }
      const rows = Object.entries(r.params).map(([name, v]) => {
        const iv = r.intervals && r.intervals[name];
        return el("tr", {}, el("th", {}, name), el("td", { class: "num" }, value(v)),
          el("td", { class: "num" }, iv ? value(iv[0]) : "—"), el("td", { class: "num" }, iv ? value(iv[1]) : "—"));
      });
      replace(out,
        el("p", {}, `At cost ${num(r.cost)}: ${num(r.extrapolation)}× the dearest finished trial.`,
          r.extrapolation > 10 ? el("span", { class: "warn" }, " Far beyond the trials: read the intervals.") : null),
        el("table", { class: "grid", id: "predict-table" },
          el("thead", {}, el("tr", {}, ["", "predicted", "low (90%)", "high (90%)"].map((h) => el("th", {}, h)))),
          el("tbody", {}, el("tr", { class: "row-objective" }, el("th", {}, view ? objectiveLabel(view.objective) : "objective"),
            el("td", { class: "num" }, num(r.objective)), el("td", { class: "num" }, num(r.objectiveInterval?.[0])),
            el("td", { class: "num" }, num(r.objectiveInterval?.[1]))), rows)));
    } catch (error) {
      replace(out, el("p", { class: "error" }, error.message));
    }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  replace(node, el("div", { class: "card-head" }, el("h2", {}, "Scale-up prediction")),
    el("p", { class: "muted small" }, "The best parameters and objective at a cost you choose, from the frontier's laws, with bootstrap intervals."),
    form, out);
  return {
    async update(next) {
      const first = view === null;
      view = next;
      if (first && !input.value) {
        const dearest = Math.max(0, ...next.trials.filter((t) => t.phase === "Succeeded").map((t) => t.cost || 0));
        const guess = next.scaleUp ? next.scaleUp.cost : dearest > 0 ? dearest * 10 : null;
        if (guess) input.value = num(guess);
      }
      if (input.value) await run();
    },
    dispose() {},
  };
}

// --- importance ---------------------------------------------------------------------------

function importancePanel(node, { key }) {
  const method = el("span", { class: "muted small" });
  replace(node, el("div", { class: "card-head" }, el("h2", {}, "Parameter importance along the frontier"), method));
  const chart = makeChart(chartBox(node, "chart"), "importance");
  const tableBox = el("div");
  node.appendChild(tableBox);
  return {
    async update() {
      const imp = await api.importance(key);
      method.textContent = `Which parameters matter at which cost (shares of each band sum to 1). Method: ${imp.method}.`;
      const params = [...new Set([...Object.keys(imp.overall || {}), ...imp.bands.flatMap((b) => Object.keys(b.importance))])];
      if (!params.length) {
        chart.clear();
        replace(tableBox, el("p", { class: "muted" }, imp.minTrials
          ? `Importance needs ${imp.minTrials} finished trials on the frontier's cost range; there are fewer yet.`
          : "No importance yet: too few finished trials."));
        return;
      }
      const labels = [...imp.bands.map((b) => `${num(b.minCost)} – ${num(b.maxCost)} (${b.trials})`), "overall"];
      const shares = (p) => [...imp.bands.map((b) => b.importance[p] ?? 0), (imp.overall || {})[p] ?? 0];
      const option = baseOption();
      option.toolbox = { show: false };
      option.dataZoom = [];
      option.grid = { left: 170, right: 24, top: 40, bottom: 36 };
      option.xAxis = { type: "value", max: 1, name: "share of importance", nameLocation: "middle", nameGap: 24, axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } };
      option.yAxis = { type: "category", data: labels, inverse: true, axisLabel: { color: "#343a40" } };
      option.tooltip.formatter = (p) => el("div", { class: "tip" }, el("div", { class: "tip-title" }, p.seriesName),
        `${labels[p.dataIndex]}: ${(p.value * 100).toFixed(1)}%`);
      option.series = params.map((p, i) => ({ name: p, type: "bar", stack: "share", data: shares(p),
        itemStyle: { color: PALETTE[i % PALETTE.length] }, barMaxWidth: 28 }));
      chart.setOption(option, { notMerge: true });
      replace(tableBox, el("table", { class: "grid compact", id: "importance-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "cost band"), params.map((p) => el("th", {}, p)))),
        el("tbody", {}, labels.map((label, row) => el("tr", {}, el("th", {}, label),
          params.map((p) => el("td", { class: "num" }, `${(shares(p)[row] * 100).toFixed(1)}%`)))))));
    },
    dispose: () => chart.dispose(),
  };
}

// --- manifest -----------------------------------------------------------------------------

function manifestPanel(node) {
  const code = el("code");
  replace(node, el("div", { class: "card-head" }, el("h2", {}, "Manifest")), el("pre", { class: "manifest", id: "manifest" }, code));
  return { async update(view) { code.textContent = view.manifest || ""; }, dispose() {} };
}

export const PANELS = {
  parallel: parallelPanel, curves: curvesPanel, laws: lawsPanel, predict: predictPanel,
  importance: importancePanel, manifest: manifestPanel,
};
