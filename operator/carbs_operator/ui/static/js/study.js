// One study: its summary, the frontier plot beside the frontier's points, and tabs for
// the trials table, parallel coordinates, learning curves, laws, prediction, importance
// and the manifest. While the study runs, a poll of /revision (every 2 s) refreshes the
// data in place: charts and table update, nothing reloads.
import { api } from "./api.js";
import { el, replace, num, value, pill, link, studyHash, trialHash, objectiveLabel, kvTable } from "./dom.js";
import { makeChart, frontierOption, wantsLog } from "./charts.js";
import { trialsTable } from "./table.js";
import { PANELS } from "./panels.js";

export const TABS = [
  ["trials", "Trials"], ["parallel", "Parallel coordinates"], ["curves", "Learning curves"],
  ["laws", "Scaling laws"], ["predict", "Scale-up prediction"], ["importance", "Importance"],
  ["manifest", "Manifest"],
];

function header(view) {
  const s = view.summary || {};
  const t = s.trials || {};
  const best = s.best;
  const stats = [
    ["phase", pill(s.phase || "Pending")],
    ["trials", `${t.finished ?? 0} done${t.budget ? ` of ${t.budget}` : ""}${t.total > t.finished ? ` · ${t.total - t.finished} active` : ""}`],
    [`best ${objectiveLabel(view.objective)}`, best ? link(trialHash(view.key, best.trial), `${num(best.objective)} (trial ${best.trial})`) : "—"],
    [`cost spent (${view.costLabel || "cost"})`, `${num(s.totalCost)}${s.maxTotalCost ? ` of ${num(s.maxTotalCost)}` : ""}`],
    ["frontier", `${view.frontier.length} points`],
  ];
  const conditions = (s.conditions || []).map((c) => el("li", {
    class: c.status === "True" ? "cond-true" : c.status === "False" ? "cond-false" : "cond-unknown" },
  el("b", {}, c.type), ` ${c.status} · ${c.reason || ""}`, c.message ? el("span", { class: "muted" }, ` — ${c.message}`) : null));
  return el("section", { class: "card study-head" },
    el("div", { class: "title-row" }, el("h1", { id: "study-name" }, view.name),
      view.namespace && view.namespace !== "local" ? el("span", { class: "muted" }, ` ${view.namespace}`) : null),
    el("dl", { class: "stats" }, stats.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v)))),
    conditions.length ? el("ul", { class: "conditions inline" }, conditions) : null);
}

function frontierTable(view) {
  const byIndex = new Map(view.trials.map((t) => [t.index, t]));
  const rows = view.frontier.map((i) => byIndex.get(i)).filter(Boolean);
  return el("table", { class: "grid compact", id: "frontier-table" },
    el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, view.costLabel || "cost"),
      el("th", {}, view.objective.metric))),
    el("tbody", {}, rows.map((t) => el("tr", { dataset: { index: String(t.index) } },
      el("td", { class: "num" }, link(trialHash(view.key, t.index), String(t.index))),
      el("td", { class: "num" }, num(t.cost)), el("td", { class: "num" }, num(t.objective))))));
}

function scaleUpBox(view) {
  const up = view.scaleUp;
  const saturated = (view.laws || []).find((l) => l.verdict === "saturated" && l.saturationCost != null);
  if ((!up || up.error) && saturated) {
    return el("p", { class: "muted small" }, `Scale-up: none. The objective stops improving past ${num(saturated.saturationCost)}; no law extrapolates beyond it.`);
  }
  if (!up || up.error) return el("p", { class: "muted small" }, "Scale-up: the frontier is too short or flat to fit laws yet.");
  return el("div", { class: "scaleup" },
    el("h3", {}, `At ${num(up.cost)} (${num(up.extrapolation)}× the dearest trial)`),
    kvTable([[objectiveLabel(view.objective), `${num(up.objective)} [${num(up.objectiveInterval[0])}, ${num(up.objectiveInterval[1])}]`],
      ...Object.entries(up.params).map(([k, v]) => [k, value(v)])]));
}

function placedNote(view) {
  const unplaced = view.trials.filter((t) => !(t.cost > 0));
  const counts = {};
  for (const t of unplaced) counts[t.phase] = (counts[t.phase] || 0) + 1;
  const parts = Object.entries(counts).map(([p, n]) => `${n} ${p === "EarlyStopped" ? "stopped" : p.toLowerCase()}`);
  return parts.length ? `Not placed (no cost yet): ${parts.join(", ")}.` : "";
}

export async function studyPage(ctx, { key, tab }) {
  performance.mark("carbs:view-asked");
  let view = await api.view(key);
  performance.mark("carbs:view-read");
  if (!ctx.isCurrent()) return null;
  let active = TABS.some(([id]) => id === tab) ? tab : "trials";
  // A log objective axis by default where the objectives span decades.
  let logY = wantsLog(view.trials.map((t) => t.objective));
  const open = (index) => { location.hash = trialHash(key, index); };
  document.title = `carbs · ${view.name}`;
  replace(ctx.crumbs, link("#/", "Studies"), " › ", el("span", {}, view.name));

  const head = el("div");
  const chartNode = el("div", { class: "chart chart-frontier", id: "frontier-chart" });
  const side = el("div", { class: "side" });
  const note = el("p", { class: "muted small", id: "placed-note" });
  const logBox = el("input", { type: "checkbox", id: "log-y", checked: logY });
  const tabBar = el("nav", { class: "tabs", role: "tablist" });
  const panelNode = el("section", { class: "card panel" });
  replace(ctx.main, head,
    el("section", { class: "card frontier-card" },
      el("div", { class: "card-head" }, el("h2", {}, "Frontier: every trial against its cost"),
        el("label", { class: "small" }, logBox, " log objective")),
      el("div", { class: "frontier-row" }, el("div", { class: "frontier-main" }, chartNode, note), side)),
    tabBar, panelNode);

  const chart = makeChart(chartNode, "frontier");
  chart.on("click", (p) => { if (p.data && p.data.length > 2 && p.data[2] !== undefined) open(p.data[2]); });
  let table = null;
  let panel = null;

  const drawFrontier = () => {
    const { option, frontier } = frontierOption(view, { logY });
    chart.setOption(option, { notMerge: true });
    window.carbsUI.charts.frontier = {
      chart, frontier,
      // Where a trial's point is, in pixels from the chart's top left (for tests).
      pixel: (index) => {
        const t = view.trials.find((x) => x.index === index);
        return t ? chart.convertToPixel({ xAxisIndex: 0, yAxisIndex: 0 }, [t.cost, t.objective]) : null;
      },
    };
  };
  const drawHead = () => {
    replace(head, header(view));
    replace(side, el("h3", {}, "Frontier points"), el("div", { class: "frontier-scroll" }, frontierTable(view)), scaleUpBox(view));
    note.textContent = placedNote(view);
  };
  const drawTabs = () => {
    replace(tabBar, TABS.map(([id, label]) => el("a", { href: studyHash(key, `/${id}`), role: "tab",
      class: id === active ? "tab active" : "tab", "aria-selected": id === active ? "true" : "false",
      dataset: { tab: id } }, label)));
  };
  const showPanel = async () => {
    if (panel) panel.dispose();
    panel = null;
    if (table && active !== "trials") { table.destroy(); table = null; }
    if (active === "trials") {
      replace(panelNode, el("div", { class: "card-head" }, el("h2", {}, "Trials"),
        el("span", { class: "muted small" }, "Filters: text, >x, <=x, a..b, =value. Click a row to open the trial.")));
      const node = el("div", { id: "trials-table" });
      panelNode.appendChild(node);
      table = trialsTable(node, view, open);
      await table.built;
      window.carbsUI.table = table.table;
    } else {
      replace(panelNode);
      panel = PANELS[active](panelNode, { key, open });
      await panel.update(view);
    }
  };
  const mark = () => {
    document.body.dataset.page = "study";
    document.body.dataset.revision = view.revision;
    document.body.dataset.tab = active;
    window.carbsUI.page = "study";
    window.carbsUI.view = { key, revision: view.revision, trials: view.trials.length, frontier: view.frontier };
    window.carbsUI.renders += 1;
    // When the frontier plot and the table were first drawn (ms since navigation).
    if (window.carbsUI.readyAt === undefined) window.carbsUI.readyAt = performance.now();
    const running = (view.summary && view.summary.phase) === "Running";
    ctx.setLive(running ? `live · updated ${new Date().toLocaleTimeString()}` : "");
  };
  logBox.addEventListener("change", () => { logY = logBox.checked; drawFrontier(); });

  drawHead();
  drawFrontier();
  performance.mark("carbs:frontier-drawn");
  drawTabs();
  await showPanel();
  performance.mark("carbs:panel-drawn");
  mark();

  return {
    async poll() {
      const revision = await api.revision(key);
      if (revision === view.revision) {
        if ((view.summary && view.summary.phase) === "Running") ctx.setLive(`live · checked ${new Date().toLocaleTimeString()}`);
        return;
      }
      const next = await api.view(key);
      if (!ctx.isCurrent()) return;
      view = next;
      drawHead();
      drawFrontier();
      if (table) await table.update(view);
      if (panel) await panel.update(view);
      mark();
    },
    onHash(hash) {
      const prefix = studyHash(key, "");
      const rest = hash.startsWith(prefix) ? hash.slice(prefix.length) : null;
      if (rest === null || rest.startsWith("/trial/")) return false;
      const next = rest.replace(/^\//, "") || "trials";
      if (!TABS.some(([id]) => id === next)) return false;
      if (next !== active) {
        active = next;
        drawTabs();
        showPanel().then(mark);
      }
      return true;
    },
    unmount() {
      chart.dispose();
      if (table) table.destroy();
      if (panel) panel.dispose();
    },
  };
}
