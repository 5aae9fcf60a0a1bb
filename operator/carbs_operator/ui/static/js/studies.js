// The studies list: phase, trials done of the budget, best objective, cost spent against
// maxTotalCost, conditions; tick two or more to compare their frontiers.
import { api } from "./api.js";
import { el, replace, num, pill, link, studyHash, objectiveLabel, trialHash } from "./dom.js";

function bar(fraction, label) {
  const pct = Math.max(0, Math.min(1, fraction)) * 100;
  const fill = el("span", { class: "bar-fill" });
  fill.style.width = `${pct.toFixed(1)}%`; // CSSOM, allowed by the page's CSP
  return el("span", { class: "bar", title: label }, fill);
}

function trialsCell(s) {
  const t = s.trials || {};
  const budget = t.budget || null;
  return el("div", { class: "cell-stack" },
    el("span", {}, `${t.finished ?? 0}`, budget ? ` / ${budget}` : "", " done",
      t.total > t.finished ? el("span", { class: "muted" }, ` · ${t.total - t.finished} active`) : null),
    budget ? bar((t.finished ?? 0) / budget, `${t.finished} of ${budget} trials`) : null);
}

function costCell(s) {
  const max = s.maxTotalCost;
  return el("div", { class: "cell-stack" },
    el("span", {}, num(s.totalCost), max ? el("span", { class: "muted" }, ` of ${num(max)}`) : null,
      el("span", { class: "muted" }, ` ${s.costLabel || ""}`)),
    max ? bar(s.totalCost / max, `${num(s.totalCost)} of ${num(max)}`) : null);
}

function conditionsCell(s) {
  const list = (s.conditions || []).map((c) =>
    el("li", { class: c.status === "True" ? "cond-true" : c.status === "False" ? "cond-false" : "cond-unknown",
      title: c.message || "" },
    el("b", {}, c.type), ` ${c.status === "True" ? "✓" : c.status === "False" ? "✗" : "?"} `, c.reason || "",
    c.message ? el("span", { class: "muted" }, `: ${c.message}`) : null));
  return list.length ? el("ul", { class: "conditions" }, list) : el("span", { class: "muted" }, "—");
}

function render(ctx, studies, selected) {
  const compare = el("button", { type: "button", class: "btn", disabled: selected.size < 2 }, "Compare frontiers");
  compare.addEventListener("click", () => {
    location.hash = `#/compare/${[...selected].map(encodeURIComponent).join(",")}`;
  });
  const rows = studies.map((s) => {
    const box = el("input", { type: "checkbox", checked: selected.has(s.key), "aria-label": `select ${s.name}` });
    box.addEventListener("change", () => {
      if (box.checked) selected.add(s.key); else selected.delete(s.key);
      compare.disabled = selected.size < 2;
    });
    return el("tr", { dataset: { key: s.key } },
      el("td", {}, box),
      el("td", {}, link(studyHash(s.key), el("b", {}, s.name)),
        el("div", { class: "muted small" }, s.source === "cluster" ? `namespace ${s.namespace}` : "local state")),
      el("td", {}, pill(s.phase || "Pending")),
      el("td", {}, trialsCell(s)),
      el("td", { class: "num" }, s.best ? link(trialHash(s.key, s.best.trial), num(s.best.objective)) : "—",
        el("div", { class: "muted small" }, objectiveLabel(s.objective))),
      el("td", {}, costCell(s)),
      el("td", {}, conditionsCell(s)));
  });
  const table = el("table", { class: "grid studies", id: "studies" },
    el("thead", {}, el("tr", {}, ["", "study", "phase", "trials", "best", "cost spent", "conditions"]
      .map((h) => el("th", { class: h === "best" ? "num" : null }, h)))),
    el("tbody", {}, rows));
  replace(ctx.main,
    el("section", { class: "card" },
      el("div", { class: "card-head" }, el("h1", {}, "Studies"), compare),
      studies.length ? table : el("p", { class: "muted" },
        "No studies yet. Run one with `carbs run study.yaml`; it appears here on its own.")));
}

export async function studiesPage(ctx) {
  document.title = "carbs · studies";
  replace(ctx.crumbs);
  ctx.setLive("");
  const selected = new Set();
  let last = "";
  const load = async () => {
    const studies = await api.studies();
    const text = JSON.stringify(studies);
    if (text === last || !ctx.isCurrent()) return;
    last = text;
    render(ctx, studies, selected);
    document.body.dataset.page = "studies";
    window.carbsUI.page = "studies";
    window.carbsUI.renders += 1;
  };
  await load();
  // The list reads every study's summary (a study page polls one revision): less often.
  return { poll: load, pollMs: 5000 };
}
