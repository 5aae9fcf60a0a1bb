// DOM and number helpers. Every user string reaches the page through text nodes
// (createTextNode / textContent), never through innerHTML: `el` refuses event-handler and
// style attributes, so markup in a study's data can only ever show as text.

const FORBIDDEN = /^(on|style$|innerhtml$|outerhtml$|srcdoc$)/i;

/** el("div", {class: "x"}, "text", child, [more]) builds an element; strings become text. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (FORBIDDEN.test(key)) throw new Error(`el(): refusing attribute ${key}`);
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "value") node.value = value;
    else if (key === "checked") node.checked = Boolean(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/** Appends children (strings as text, arrays flattened, null skipped). */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces a node's children. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

function trim(text) {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** A number with 4 significant digits: 0.3142, 1024, 1.235e15; "—" for none. */
export function num(x) {
  if (x === null || x === undefined || typeof x !== "number" || !Number.isFinite(x)) return "—";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) {
    const [mantissa, exponent] = x.toExponential(3).split("e");
    return `${trim(mantissa)}e${Number(exponent)}`;
  }
  // Number() turns toPrecision's "1.153e+4" back into 11530.
  return String(Number(x.toPrecision(4)));
}

/** A parameter value as text: strings as they are, numbers with 4 digits. */
export function value(v) {
  if (typeof v === "number") return num(v);
  if (v === null || v === undefined) return "—";
  return String(v);
}

/** A time: epoch seconds (a number) or an ISO string, shown in the browser's zone. */
export function when(t) {
  if (t === null || t === undefined) return "—";
  const date = typeof t === "number" ? new Date(t * 1000) : new Date(String(t));
  if (Number.isNaN(date.getTime())) return String(t);
  return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

/** A phase as a coloured pill (the class is chosen from a fixed list, not from data). */
const PHASES = ["Pending", "Running", "Succeeded", "Failed", "Lost", "EarlyStopped",
  "Suspended", "Invalid"];
export function pill(phase) {
  const known = PHASES.includes(phase) ? phase.toLowerCase() : "other";
  return el("span", { class: `pill pill-${known}` }, phase === "EarlyStopped" ? "stopped" : phase);
}

/** `a` linking to a hash route. */
export function link(hash, ...children) {
  return el("a", { href: hash }, ...children);
}

/** A route fragment for a study key (keys are opaque; encoded anyway). */
export function studyHash(key, tail = "") {
  return `#/study/${encodeURIComponent(key)}${tail}`;
}

export function trialHash(key, index) {
  return studyHash(key, `/trial/${index}`);
}

/** "minimize val_loss" as an arrow and the metric. */
export function objectiveLabel(objective) {
  if (!objective) return "objective";
  return `${objective.metric} ${objective.direction === "maximize" ? "↑" : "↓"}`;
}

/** A small key/value table. rows: [[label, value-or-node], ...]. */
export function kvTable(rows, cls = "kv") {
  return el("table", { class: cls }, el("tbody", {}, rows.map(([k, v]) =>
    el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v)))));
}
