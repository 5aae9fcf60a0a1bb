// The trials table: Tabulator with a virtual DOM (10,000 rows stay fast), sortable by
// every column, filterable by phase and by each parameter. Every cell and header is a
// text node: Tabulator writes a formatter's string with innerHTML, so none returns one.
import { TabulatorFull as Tabulator } from "../vendor/tabulator-6.5.3.esm.min.mjs";
import { el, num, value, when, pill, trialHash } from "./dom.js";

const text = (s) => document.createTextNode(s);
const PHASE_VALUES = { "": "any phase", Succeeded: "succeeded", Failed: "failed",
  EarlyStopped: "stopped", Running: "running", Pending: "pending", Lost: "lost" };

/**
 * A parameter filter typed by the user: `>0.01`, `<=64`, `1e-3..1e-2`, `=adam`, or text
 * (substring, case-insensitive). Numbers compare as numbers.
 */
export function matchesFilter(query, cellValue) {
  const q = String(query).trim();
  if (!q) return true;
  const range = q.match(/^(\S+)\s*\.\.\s*(\S+)$/);
  if (range && typeof cellValue === "number") {
    const [lo, hi] = [Number(range[1]), Number(range[2])];
    if (Number.isFinite(lo) && Number.isFinite(hi)) return cellValue >= lo && cellValue <= hi;
  }
  const cmp = q.match(/^(<=|>=|<|>|=)\s*(.+)$/);
  if (cmp) {
    const [, op, rhs] = cmp;
    const n = Number(rhs);
    if (typeof cellValue === "number" && Number.isFinite(n)) {
      return { "<": cellValue < n, ">": cellValue > n, "<=": cellValue <= n, ">=": cellValue >= n, "=": cellValue === n }[op];
    }
    if (op === "=") return String(cellValue ?? "") === rhs.trim();
  }
  return String(value(cellValue)).toLowerCase().includes(q.toLowerCase());
}

function filterColumn(title, field, { formatter, sorter = "number", width, align = "right" } = {}) {
  return {
    title, field, titleFormatter: () => text(title), sorter, hozAlign: align, width,
    formatter: formatter || ((cell) => text(value(cell.getValue()))),
    headerFilter: "input", headerFilterPlaceholder: "filter",
    headerFilterFunc: (query, cellValue) => matchesFilter(query, cellValue),
    headerFilterLiveFilter: true,
  };
}

function rows(view) {
  return view.trials.map((t) => {
    const row = { index: t.index, phase: t.phase, objective: t.objective, cost: t.cost,
      onFrontier: t.onFrontier, reason: t.reason || "", startedAt: t.startedAt };
    for (const p of view.parameters) row[`p:${p.name}`] = t.params ? t.params[p.name] : null;
    return row;
  });
}

export function trialsTable(node, view, onOpen) {
  const params = view.parameters.map((p) => {
    const categorical = p.space === "categorical" || (p.choices && p.choices.length);
    return filterColumn(p.name, `p:${p.name}`, {
      sorter: categorical ? "string" : "number", align: categorical ? "left" : "right" });
  });
  const columns = [
    { title: "#", field: "index", titleFormatter: () => text("#"), sorter: "number", width: 64,
      // A real link: keyboard users and "open in a new tab" reach the trial too.
      hozAlign: "right", formatter: (cell) => el("a", { href: trialHash(view.key, cell.getValue()) }, String(cell.getValue())),
      headerFilter: "input", headerFilterPlaceholder: "#",
      headerFilterFunc: (q, v) => matchesFilter(q, v) },
    { title: "phase", field: "phase", titleFormatter: () => text("phase"), sorter: "string",
      width: 118, formatter: (cell) => pill(cell.getValue()),
      headerFilter: "list", headerFilterParams: { values: PHASE_VALUES },
      headerFilterFunc: (q, v) => !q || v === q },
    { title: "frontier", field: "onFrontier", titleFormatter: () => text("frontier"),
      sorter: "boolean", width: 104, hozAlign: "center",
      formatter: (cell) => text(cell.getValue() ? "◆" : ""),
      headerFilter: "tickCross", headerFilterParams: { tristate: true }, headerFilterEmptyCheck: (v) => v === null || v === undefined },
    filterColumn(view.objective.metric, "objective",
      { formatter: (cell) => text(num(cell.getValue())) }),
    filterColumn(view.costLabel || "cost", "cost", { formatter: (cell) => text(num(cell.getValue())) }),
    ...params,
    filterColumn("reason", "reason", { sorter: "string", align: "left", width: 280,
      formatter: (cell) => text(cell.getValue()) }),
    { title: "started", field: "startedAt", titleFormatter: () => text("started"), sorter: "string",
      width: 160, formatter: (cell) => text(when(cell.getValue())) },
  ];
  const table = new Tabulator(node, {
    data: rows(view), columns, index: "index", layout: "fitDataStretch", height: "520px",
    renderVertical: "virtual", placeholder: el("span", { class: "muted" }, "No trials match."),
    initialSort: [{ column: "index", dir: "desc" }],
    rowFormatter: (row) => {
      row.getElement().classList.toggle("row-frontier", Boolean(row.getData().onFrontier));
    },
  });
  table.on("rowClick", (event, row) => onOpen(row.getData().index));
  let ready = false;
  const built = new Promise((resolve) => table.on("tableBuilt", () => { ready = true; resolve(); }));
  return {
    table,
    built,
    async update(next) {
      await built;
      if (!ready) return;
      await table.replaceData(rows(next)); // keeps the sort, filters and scroll
    },
    destroy() { table.destroy(); },
  };
}
