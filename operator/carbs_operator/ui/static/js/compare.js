// Two or more studies' frontiers on one plot, each with its trials faint behind it.
import { api } from "./api.js";
import { el, replace, num, link, studyHash, trialHash } from "./dom.js";
import { makeChart, compareOption, wantsLog, PALETTE } from "./charts.js";

export async function comparePage(ctx, { keys }) {
  if (keys.length < 1) throw new Error("Pick two or more studies on the studies page to compare.");
  let views = await Promise.all(keys.map((k) => api.view(k)));
  if (!ctx.isCurrent()) return null;
  document.title = `carbs · compare ${views.map((v) => v.name).join(", ")}`;
  replace(ctx.crumbs, link("#/", "Studies"), " › ", el("span", {}, "compare"));
  let logY = wantsLog(views.flatMap((v) => v.trials.map((t) => t.objective)));
  const logBox = el("input", { type: "checkbox", checked: logY });
  const legend = el("div", { class: "compare-legend" });
  const box = el("div", { class: "chart chart-frontier", id: "compare-chart" });
  replace(ctx.main, el("section", { class: "card" },
    el("div", { class: "card-head" }, el("h1", {}, "Frontiers compared"), el("label", { class: "small" }, logBox, " log objective")),
    legend, box));
  const chart = makeChart(box, "compare");
  let lookup = new Map();
  chart.on("click", (p) => {
    const entry = p.data && lookup.get(p.data[3]);
    if (entry) location.hash = trialHash(entry.view.key, p.data[2]);
  });
  const draw = () => {
    const built = compareOption(views, { logY });
    lookup = built.lookup;
    chart.setOption(built.option, { notMerge: true });
    const metrics = new Set(views.map((v) => `${v.objective.metric} (${v.costLabel})`));
    replace(legend, views.map((v, i) => {
      const swatch = el("span", { class: `swatch swatch-${i % PALETTE.length}` });
      const best = v.summary && v.summary.best;
      return el("span", { class: "compare-item" }, swatch, link(studyHash(v.key), v.name),
        el("span", { class: "muted small" }, ` ${v.frontier.length} frontier points, best ${best ? num(best.objective) : "—"}`));
    }), metrics.size > 1 ? el("p", { class: "warn small" }, `These studies measure different objectives or costs (${[...metrics].join(", ")}): compare with care.`) : null);
    window.carbsUI.charts.compare = { chart, frontiers: views.map((v) => v.frontier) };
    document.body.dataset.page = "compare";
    window.carbsUI.page = "compare";
    window.carbsUI.renders += 1;
  };
  logBox.addEventListener("change", () => { logY = logBox.checked; draw(); });
  draw();
  return {
    async poll() {
      const revisions = await Promise.all(keys.map((k) => api.revision(k)));
      if (revisions.every((r, i) => r === views[i].revision)) return;
      views = await Promise.all(keys.map((k) => api.view(k)));
      if (ctx.isCurrent()) draw();
    },
    unmount() { chart.dispose(); },
  };
}
