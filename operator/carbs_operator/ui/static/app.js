// carbs ui: a read-only view of studies. Routes live in the URL's hash, so the server
// serves one page; each page polls what it shows and redraws without a reload.
import { replace, el } from "./js/dom.js";
import { studiesPage } from "./js/studies.js";
import { studyPage } from "./js/study.js";
import { trialPage } from "./js/trial.js";
import { comparePage } from "./js/compare.js";

const POLL_MS = 2000;
const main = document.getElementById("app");
const crumbs = document.getElementById("crumbs");
const live = document.getElementById("live");

// A read-only window into the page's state for tests and debugging (no behaviour).
window.carbsUI = { charts: {}, page: null, polls: 0, renders: 0 };

let current = null;
let timer = null;
let generation = 0;

function route() {
  const hash = decodeURI(location.hash || "#/");
  const parts = (location.hash || "#/").replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "study" && parts[1] && parts[2] === "trial" && parts[3] !== undefined) {
    return { page: trialPage, args: { key: parts[1], index: Number(parts[3]) } };
  }
  if (parts[0] === "study" && parts[1]) {
    return { page: studyPage, args: { key: parts[1], tab: parts[2] || "trials" } };
  }
  if (parts[0] === "compare") {
    return { page: comparePage, args: { keys: (parts[1] || "").split(",").filter(Boolean) } };
  }
  return { page: studiesPage, args: { hash } };
}

function setLive(text) {
  live.hidden = !text;
  live.textContent = text || "";
}

async function show() {
  const mine = ++generation;
  clearTimeout(timer);
  if (current && current.unmount) current.unmount();
  current = null;
  const { page, args } = route();
  // A study page switching tabs keeps its data: the page decides.
  const context = { main, crumbs, setLive, isCurrent: () => mine === generation };
  // A large study's first view is computed on demand (seconds at 10,000 trials): say so
  // rather than leave the previous page up.
  const slow = setTimeout(() => {
    if (mine === generation) {
      replace(main, el("p", { class: "muted loading" }, "Loading… (a large study's first view is computed now; later ones are cached)"));
    }
  }, 400);
  try {
    current = await page(context, args);
  } catch (error) {
    clearTimeout(slow);
    if (mine !== generation) return;
    replace(main, el("div", { class: "error-box" }, el("h2", {}, "Cannot show this page"),
      el("p", {}, String(error.message || error))));
    return;
  }
  clearTimeout(slow);
  if (mine !== generation) {
    if (current && current.unmount) current.unmount();
    return;
  }
  schedule(mine);
}

function schedule(mine) {
  timer = setTimeout(async () => {
    if (mine !== generation) return;
    if (current && current.poll && !document.hidden) {
      try {
        await current.poll();
        window.carbsUI.polls += 1;
        if (live.textContent.startsWith("connection lost")) setLive("");
      } catch (error) {
        setLive(`connection lost: ${error.message || error}`);
      }
    }
    if (mine === generation) schedule(mine);
  }, (current && current.pollMs) || POLL_MS);
}

window.addEventListener("hashchange", () => {
  // Switching tabs of the same study is handled in place by the study page.
  if (current && current.onHash && current.onHash(location.hash)) return;
  show();
});
show();
