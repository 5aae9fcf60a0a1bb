// One trial: parameters, result, learning curve, reason, and the tail of its pod's log
// where the source has one (on a cluster). The log is shown as text, line by line.
import { api } from "./api.js";
import { el, replace, num, value, when, pill, link, studyHash, trialHash, kvTable } from "./dom.js";
import { makeChart, baseOption, COLORS } from "./charts.js";

function curveChart(box, curve, trial, metric) {
  const chart = makeChart(box, "trial-curve");
  const option = baseOption();
  option.legend = { show: false };
  option.toolbox = { show: false };
  option.tooltip = { trigger: "axis", confine: true, backgroundColor: "#fff", borderColor: "#ced4da",
    formatter: (ps) => { const p = ps[0]; return p ? el("div", { class: "tip" }, `step ${num(p.data[0])}: ${num(p.data[1])}`) : null; } };
  option.xAxis = { type: "value", name: "step", nameLocation: "middle", nameGap: 28, scale: true, axisLabel: { formatter: (v) => num(v) } };
  option.yAxis = { type: "value", name: metric, scale: true, axisLabel: { formatter: (v) => num(v) }, splitLine: { lineStyle: { color: "#eef0f3" } } };
  const stopped = trial.phase === "EarlyStopped";
  option.series = [{ type: "line", data: curve, showSymbol: curve.length < 60, symbolSize: 4,
    lineStyle: { color: stopped ? COLORS.EarlyStopped : "#1c7ed6", width: 2, type: stopped ? "dashed" : "solid" },
    itemStyle: { color: stopped ? COLORS.EarlyStopped : "#1c7ed6" },
    markLine: stopped && trial.stopStep !== null ? { symbol: "none", silent: true, lineStyle: { color: COLORS.EarlyStopped },
      label: { formatter: "stopped" }, data: [{ xAxis: trial.stopStep }] } : undefined }];
  chart.setOption(option, { notMerge: true });
  return chart;
}

export async function trialPage(ctx, { key, index }) {
  const [view, data] = await Promise.all([api.view(key), api.trial(key, index)]);
  if (!ctx.isCurrent()) return null;
  let chart = null;
  let shownRevision = view.revision;
  const render = (v, d) => {
    if (chart) { chart.dispose(); chart = null; }
    const t = d.trial;
    document.title = `carbs · ${v.name} · trial ${t.index}`;
    replace(ctx.crumbs, link("#/", "Studies"), " › ", link(studyHash(key), v.name), " › ", el("span", {}, `trial ${t.index}`));
    const nav = el("span", { class: "trial-nav" },
      t.index > 0 ? link(trialHash(key, t.index - 1), "← previous") : null, " ",
      t.index < v.trials.length - 1 ? link(trialHash(key, t.index + 1), "next →") : null);
    const params = v.parameters.map((p) => [p.name, value(t.params[p.name])]);
    const extraParams = Object.keys(t.params).filter((k) => !v.parameters.some((p) => p.name === k)).map((k) => [k, value(t.params[k])]);
    const metrics = Object.entries(d.metrics || {}).map(([k, m]) => [k, value(m)]);
    const curveBox = el("div", { class: "chart chart-curve", id: "trial-curve" });
    replace(ctx.main,
      el("section", { class: "card study-head" },
        el("div", { class: "title-row" }, el("h1", { id: "trial-title" }, `Trial ${t.index}`), pill(t.phase),
          t.onFrontier ? el("span", { class: "badge-frontier" }, "◆ on the frontier") : null, nav),
        el("p", { class: "muted small" }, t.name, ` · started ${when(t.startedAt)} · finished ${when(t.finishedAt)}`)),
      el("div", { class: "two-col" },
        el("section", { class: "card" }, el("h2", {}, "Parameters"), kvTable([...params, ...extraParams], "kv params")),
        el("section", { class: "card" }, el("h2", {}, "Result"),
          kvTable([[`objective (${v.objective.metric})`, num(t.objective)], [`cost (${v.costLabel || "cost"})`, num(t.cost)],
            ...(t.stopStep !== null && t.stopStep !== undefined ? [["stopped at step", String(t.stopStep)]] : []), ...metrics], "kv result"),
          t.reason ? el("div", { class: "reason" }, el("h3", {}, t.phase === "EarlyStopped" ? "Why it stopped" : "Reason"),
            el("pre", { class: "reason-text", id: "trial-reason" }, t.reason)) : null)),
      el("section", { class: "card" }, el("h2", {}, "Learning curve"),
        d.curve && d.curve.length ? curveBox : el("p", { class: "muted" }, "No progress reported (report_progress).")),
      d.log !== null && d.log !== undefined ? el("section", { class: "card" }, el("h2", {}, "Log (tail of the primary pod)"),
        el("pre", { class: "log", id: "trial-log" }, d.log.join("\n"))) : null);
    if (d.curve && d.curve.length) chart = curveChart(curveBox, d.curve, t, v.objective.metric);
    document.body.dataset.page = "trial";
    document.body.dataset.trial = String(t.index);
    document.body.dataset.revision = v.revision;
    window.carbsUI.page = "trial";
    window.carbsUI.renders += 1;
    ctx.setLive(t.phase === "Running" || t.phase === "Pending" ? `live · updated ${new Date().toLocaleTimeString()}` : "");
  };
  render(view, data);
  return {
    async poll() {
      const revision = await api.revision(key);
      if (revision === shownRevision) return;
      const [v, d] = await Promise.all([api.view(key), api.trial(key, index)]);
      if (!ctx.isCurrent()) return;
      shownRevision = v.revision;
      // Redraw in place: keep where the reader was in the page and in the log.
      const logNode = document.getElementById("trial-log");
      const logAtEnd = logNode && logNode.scrollTop + logNode.clientHeight >= logNode.scrollHeight - 4;
      const [pageY, logY] = [window.scrollY, logNode ? logNode.scrollTop : 0];
      render(v, d);
      window.scrollTo(0, pageY);
      const again = document.getElementById("trial-log");
      if (again) again.scrollTop = logAtEnd ? again.scrollHeight : logY;
    },
    unmount() { if (chart) chart.dispose(); },
  };
}
