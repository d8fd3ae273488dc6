// The LTS dashboard's shared helpers: elements, the API, number formats, plots and the
// objectives. Loaded first; the page scripts (search.js, search_decide.js, app.js) use them.
// No framework and no build step; every value is put in the page as text (never as HTML).
"use strict";

// ------------------------------------------------------------------------------ helpers
const POLL_MS = 2000;
const PAGE_SIZE = 20;
const TABLE_ROWS = 300;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {}

async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (response.status === 401) {
    const here = location.pathname + location.search;
    location.assign("/ui/login?next=" + encodeURIComponent(here));
    throw new ApiError("signed out");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new ApiError(`${path}: ${response.status} ${detail}`);
  }
  return response.json();
}

const fmt = {
  ms: (v) => (v === null || v === undefined ? "-" : v.toFixed(2)),
  mb: (v) => (v === null || v === undefined ? "-" : v.toFixed(1)),
  int: (v) => (v === null || v === undefined ? "-" : v.toLocaleString("en-US")),
  hv: (v) => (v === null || v === undefined ? "-" : v.toFixed(4)),
  ratio: (v) => (v === null || v === undefined ? "-" : v.toFixed(2) + "x"),
  pct: (v) => (v === null || v === undefined ? "-" : (100 * v).toFixed(1) + "%"),
  time: (s) => {
    if (!s) return "-";
    const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : s + "Z";
    return new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  },
};

function num(value, format, attrs = {}) {
  return el("td", { class: "num", "data-value": value ?? "", ...attrs }, format(value));
}

function badge(status) {
  return el("span", { class: `badge ${status}`, "data-status": status }, status);
}

function stat(label, value, key) {
  return el("div", { class: "stat" },
    el("div", { class: "label" }, label),
    el("div", { class: "value", "data-stat": key }, value));
}

function archLink(archId, searchId, device) {
  const query = searchId ? `?search=${searchId}&device=${encodeURIComponent(device || "")}` : "";
  return el("a", { href: `/ui/architectures/${encodeURIComponent(archId)}${query}`,
                   class: "mono", "data-arch": archId }, archId);
}

function table(columns, rows, attrs = {}) {
  const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : "" }, c.label)));
  const body = el("tbody", {}, rows);
  return el("div", { class: "table-wrap" }, el("table", attrs, el("thead", {}, head), body));
}

const hasWebGL = (() => {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch (_) {
    return false;
  }
})();

const PLOT_CONFIG = { displaylogo: false, responsive: true };
const LAYOUT = {
  margin: { l: 64, r: 16, t: 36, b: 48 }, font: { size: 12 },
  legend: { orientation: "h", y: -0.22 }, hovermode: "closest",
};

function plot(node, traces, layout) {
  const title = { x: 0.01, xanchor: "left", font: { size: 13 }, ...layout.title };
  Plotly.react(node, traces, { ...LAYOUT, ...layout, title }, PLOT_CONFIG);
}

function deviceName(d) { return d.device || d.agent; }

// The objectives as the controller declares them (GET /objectives), by name.
let OBJECTIVES = new Map();

// The measured objectives among `names` (a search's objectives), in its order.
function measuredOf(names) {
  return (names || []).map((n) => OBJECTIVES.get(n)).filter((o) => o && o.source === "measured");
}

function fmtOf(o) { return o.unit === "ms" ? fmt.ms : fmt.mb; }

function heading(o) { return `${o.label} (${o.unit})`; }

// Plotly renders a subset of HTML in its texts (links among them): a name an agent reported
// must reach a chart as plain text.
function plotText(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
