// The LTS dashboard: renders the page its path names from the controller's REST API.
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

// A candidate with a successful measurement (statuses: done, failed, rejected).
function isMeasured(c) {
  return Boolean(c.measurement && c.measurement.status === "done"
                 && Object.keys(c.measurement.values || {}).length > 0);
}

// ---------------------------------------------------------------------- searches page
async function pageSearches(main) {
  const params = new URLSearchParams(location.search);
  const head = await api("/searches?limit=1");
  const pages = Math.max(1, Math.ceil(head.count / PAGE_SIZE));
  const page = Math.min(Math.max(1, parseInt(params.get("page") || "1", 10) || 1), pages);
  const end = head.count - (page - 1) * PAGE_SIZE;
  const start = Math.max(0, end - PAGE_SIZE);
  const listed = end > 0 ? (await api(`/searches?offset=${start}&limit=${end - start}`)).data : [];
  const searches = listed.slice().reverse();  // newest first
  const details = await Promise.all(searches.map((s) => api(`/searches/${s.id}`)));
  const columns = [
    { label: "#" }, { label: "name" }, { label: "status" }, { label: "devices" },
    { label: "iterations" }, { label: "candidates", num: true }, { label: "hypervolume" },
    { label: "started" }, { label: "finished" },
  ];
  const rows = details.map((s) => el("tr", { "data-search": s.id },
    el("td", {}, el("a", { href: `/ui/searches/${s.id}` }, `#${s.id}`)),
    el("td", {}, el("a", { href: `/ui/searches/${s.id}` }, s.name || "(unnamed)")),
    el("td", {}, badge(s.status)),
    el("td", { "data-col": "devices" }, s.devices.map(deviceName).join(", ")),
    el("td", { "data-col": "iterations" },
      s.devices.map((d) => `${d.iterations_done} / ${d.iterations}`).join(", ")),
    num(s.devices.reduce((n, d) => n + d.candidates, 0), fmt.int, { "data-col": "candidates" }),
    el("td", { "data-col": "hypervolume" }, s.devices.map((d) => fmt.hv(d.hypervolume)).join(", ")),
    el("td", {}, fmt.time(s.created_at)),
    el("td", {}, fmt.time(s.finished_at))));
  const pager = el("div", { class: "pager" },
    page > 1 ? el("a", { href: `?page=${page - 1}`, id: "newer" }, "← newer") : null,
    el("span", { class: "muted", id: "page-info" },
      `page ${page} of ${pages} · ${fmt.int(head.count)} searches`),
    page < pages ? el("a", { href: `?page=${page + 1}`, id: "older" }, "older →") : null);
  main.replaceChildren(
    el("h1", {}, "Searches"),
    el("section", { class: "card" },
      head.count ? table(columns, rows, { id: "searches" })
        : el("p", { class: "muted" }, "No search in this store yet: run controller search."),
      pager));
  if (details.some((s) => s.status === "running")) {
    setTimeout(() => pageSearches(main).catch(showError), 5 * POLL_MS);
  }
}

// ------------------------------------------------------------------------ search page
class SearchPage {
  constructor(main, searchId) {
    this.main = main;
    this.id = searchId;
    this.after = 0;
    this.candidates = [];
    this.sections = new Map();  // position -> {node, parts}
    this.sort = { key: "seq", dir: 1 };
    this.showAll = false;
  }

  async load() {
    const [detail, frontier] = await Promise.all([
      api(`/searches/${this.id}`), api(`/searches/${this.id}/frontier`),
    ]);
    this.detail = detail;
    this.frontier = frontier;
    // The frontier first (one request), then every candidate through the cursor (a page of
    // 1,000 per request): the page is useful before a large search's candidates are in.
    this.loading = true;
    this.build();
    this.update();
    performance.mark("lts-first-view");
    await this.fetchCandidates();
    performance.mark("lts-data");
    this.loading = false;
    this.update();
    if (detail.status === "running") this.schedule();
  }

  async fetchCandidates() {
    let added = 0;
    for (;;) {
      const page = await api(`/searches/${this.id}/candidates?after=${this.after}&limit=1000`);
      this.candidates.push(...page.data);
      added += page.data.length;
      this.after = page.next_after;
      this.complete = page.complete;
      this.count = page.count;
      if (page.data.length < 1000) return added;
    }
  }

  schedule() {
    this.timer = setTimeout(() => this.poll().catch(showError), POLL_MS);
  }

  async poll() {
    const added = await this.fetchCandidates();
    const detail = await api(`/searches/${this.id}`);
    const changed = added > 0 || detail.updated_at !== this.detail.updated_at
      || detail.status !== this.detail.status;
    this.detail = detail;
    if (changed) {
      this.frontier = await api(`/searches/${this.id}/frontier`);
      this.update();
    } else {
      this.updateHeader();  // nothing new: redraw nothing
    }
    if (detail.status === "running" || !this.complete) this.schedule();
  }

  build() {
    const d = this.detail;
    this.header = {
      status: el("span", { id: "search-status" }),
      live: el("span", { class: "live", id: "live" }),
      progress: el("span"),
      progressText: el("span", { class: "muted", id: "progress" }),
    };
    const settings = el("details", {}, el("summary", {}, "settings"),
      el("pre", {}, JSON.stringify(d.settings, null, 2)));
    const nodes = [
      el("h1", {}, `Search #${d.id}${d.name ? ": " + d.name : ""} `, this.header.status,
        this.header.live),
      el("p", {}, el("span", { class: "progress" }, this.header.progress), " ",
        this.header.progressText, " · started ", fmt.time(d.created_at),
        d.message ? el("span", { class: "muted" }, ` · ${d.message}`) : null),
      settings,
    ];
    for (const device of d.devices) {
      const section = this.buildDevice(device);
      this.sections.set(device.position, section);
      nodes.push(section.node);
    }
    if (d.devices.length >= 2) nodes.push(this.buildCompare());
    nodes.push(this.buildCandidates());
    this.main.replaceChildren(...nodes);
  }

  buildDevice(device) {
    const slices = new Map(measuredOf(device.objectives).map((o) => [o.name,
      el("div", { class: "chart", "data-chart": o.name })]));
    const parts = {
      status: el("span"), stats: el("div", { class: "stats" }),
      hv: el("div", { class: "chart", "data-chart": "hypervolume" }), slices,
      cube: el("div", { class: "chart tall", "data-chart": "frontier3d" }),
      baselines: el("div"), members: el("div"), exports: el("div", { class: "buttons" }),
    };
    const node = el("section", { class: "card device", "data-device": deviceName(device),
                                 "data-position": device.position },
      el("h2", {}, `${device.agent}`, device.device && device.device !== device.agent
        ? el("span", { class: "muted" }, ` (${device.device})`) : null, " ", parts.status),
      parts.stats,
      el("div", { class: "charts" }, parts.hv, ...slices.values(), parts.cube),
      el("h3", {}, "Baselines against the frontier"), parts.baselines,
      el("h3", {}, "Pareto frontier"), parts.exports, parts.members);
    return { node, parts };
  }

  deviceCandidates(frontierDevice) {
    return this.candidates.filter((c) => c.device_id === frontierDevice.device_id);
  }

  updateHeader() {
    const d = this.detail;
    this.header.status.replaceChildren(badge(d.status));
    this.header.progress.style.width = `${Math.round(100 * d.progress)}%`;
    this.header.progressText.textContent = `${Math.round(100 * d.progress)}% of the iterations`;
    const live = d.status === "running";
    this.header.live.className = live ? "live" : "live ended";
    this.header.live.dataset.seen = String(this.candidates.length);
    this.header.live.textContent = live
      ? `live · ${this.candidates.length} candidates · updated ${new Date().toLocaleTimeString()}`
      : "";
  }

  update() {
    const d = this.detail;
    this.updateHeader();
    const byPosition = new Map(this.frontier.data.map((f) => [f.position, f]));
    for (const device of d.devices) {
      const section = this.sections.get(device.position);
      const f = byPosition.get(device.position);
      if (section && f) this.updateDevice(section.parts, device, f);
    }
    if (this.compare) this.updateCompare();
    this.updateCandidates();
  }

  updateDevice(parts, device, f) {
    parts.status.replaceChildren(badge(device.status));
    const measured = this.deviceCandidates(f).filter((c) => c.iteration >= 0 && isMeasured(c));
    // The counts are the API's (the one count of a device's candidates), not the page's.
    parts.stats.replaceChildren(
      stat("iteration", `${device.iterations_done} / ${device.iterations}`, "iterations"),
      stat("candidates", fmt.int(device.candidates), "candidates"),
      stat("measured", fmt.int(device.measured), "measured"),
      stat("cache hits", fmt.int(device.cache_hits), "cache_hits"),
      stat("screened", fmt.int(device.screened ?? 0), "screened"),
      stat("failed", fmt.int(device.failed), "failed"),
      stat("frontier", fmt.int(f.members.length), "frontier"),
      stat("hypervolume", fmt.hv(device.hypervolume), "hypervolume"));
    this.plotDevice(parts, device, f, measured);
    this.tableBaselines(parts, f);
    this.tableMembers(parts, f);
  }

  plotDevice(parts, device, f, measured) {
    const history = this.detail.hypervolume.filter((h) => h.device_id === f.device_id);
    plot(parts.hv, [{ x: history.map((h) => h.iteration), y: history.map((h) => h.hypervolume),
                      mode: "lines+markers", name: "hypervolume" }],
         { title: { text: "Hypervolume per iteration" },
           xaxis: { title: { text: "iteration" }, dtick: Math.max(1, Math.ceil(history.length / 10)) },
           yaxis: { title: { text: "hypervolume" } }, showlegend: false });
    const points = measured.length > 2000 && hasWebGL ? "scattergl" : "scatter";
    const base = f.baselines.map((b) => b.baseline);
    const value = (m, name) => m.objectives[name]?.value ?? null;
    for (const o of measuredOf(f.objectives)) {
      const traces = [
        { type: points, mode: "markers", name: "candidates", marker: { color: "#aab4c3", size: 5 },
          x: measured.map((c) => c.decoder_params),
          y: measured.map((c) => c.measurement.values[o.name] ?? null),
          text: measured.map((c) => c.arch_id), hoverinfo: "x+y+text" },
        { type: "scatter", mode: "markers", name: "frontier", marker: { color: "#2357c6", size: 8 },
          x: f.members.map((m) => m.decoder_params), y: f.members.map((m) => value(m, o.name)),
          text: f.members.map((m) => m.arch_id), hoverinfo: "x+y+text" },
        { type: "scatter", mode: "lines+markers", name: "layer-scaled baselines",
          marker: { color: "#b3261e", symbol: "diamond", size: 9 }, line: { dash: "dot" },
          x: base.map((b) => b.decoder_params), y: base.map((b) => value(b, o.name)),
          text: base.map((b) => `${b.n_layer} layers`), hoverinfo: "x+y+text" },
      ];
      plot(parts.slices.get(o.name), traces, {
        title: { text: `Decoder parameters vs ${o.label}` },
        xaxis: { title: { text: "decoder parameters" }, tickformat: "~s" },
        yaxis: { title: { text: (o.timed ? "median " : "") + heading(o) } },
      });
    }
    if (!hasWebGL) {
      parts.cube.replaceChildren(el("p", { class: "muted", style: "padding: 12px" },
        "The 3-D view needs WebGL, which this browser does not offer."));
      return;
    }
    const axes = measuredOf(f.objectives);
    const [oy, oz] = [axes[0], axes[1] || axes[0]];
    const colour = axes[2] || oy;
    plot(parts.cube, [{
      type: "scatter3d", mode: "markers", name: "frontier",
      x: f.members.map((m) => m.decoder_params), y: f.members.map((m) => value(m, oy.name)),
      z: f.members.map((m) => value(m, oz.name)), text: f.members.map((m) => m.arch_id),
      marker: { size: 4, color: f.members.map((m) => value(m, colour.name)), colorscale: "Viridis",
                colorbar: { title: { text: heading(colour) } } },
    }], {
      title: { text: "Frontier in 3-D" }, margin: { l: 0, r: 0, t: 36, b: 0 },
      scene: { xaxis: { title: { text: "decoder params" } },
               yaxis: { title: { text: heading(oy) } },
               zaxis: { title: { text: heading(oz) } } },
    });
  }

  tableBaselines(parts, f) {
    const objs = measuredOf(f.objectives);
    const value = (m, o) => m?.objectives?.[o.name]?.value ?? null;
    const columns = [
      { label: "baseline" }, { label: "decoder params", num: true },
      ...objs.map((o) => ({ label: heading(o), num: true })),
      { label: "fastest frontier model with as many params" }, { label: "decoder params", num: true },
      ...objs.map((o) => ({ label: heading(o), num: true })),
      ...objs.map((o) => ({ label: `${o.label} ratio`, num: true })),
    ];
    const rows = f.baselines.map((b) => el("tr", { "data-baseline": b.baseline.arch_id },
      el("td", {}, `${b.baseline.n_layer} layer${b.baseline.n_layer === 1 ? "" : "s"}, `
        + `d_model ${b.baseline.d_model}`),
      num(b.baseline.decoder_params, fmt.int),
      ...objs.map((o) => num(value(b.baseline, o), fmtOf(o))),
      el("td", {}, b.match ? archLink(b.match.arch_id, this.id, deviceName(f)) : "none"),
      num(b.match?.decoder_params, fmt.int),
      ...objs.map((o) => num(value(b.match, o), fmtOf(o))),
      ...objs.map((o) => num(b.ratios[o.name] ?? null, fmt.ratio, { "data-col": `ratio-${o.name}` }))));
    parts.baselines.replaceChildren(rows.length ? table(columns, rows, { class: "baselines" })
      : el("p", { class: "muted" }, "No baseline measured on this device."));
  }

  tableMembers(parts, f) {
    const name = deviceName(f);
    const base = `/searches/${this.id}/export?device=${encodeURIComponent(name)}`;
    parts.exports.replaceChildren(
      el("span", { class: "muted" }, "export the frontier:"),
      ...["json", "csv", "pt", "onnx"].map((format) =>
        el("a", { class: "button", href: `${base}&format=${format}`, download: "" }, format)));
    const objs = measuredOf(f.objectives);
    const columns = [
      { label: "architecture" }, { label: "layers", num: true }, { label: "d_model", num: true },
      { label: "decoder params", num: true }, { label: "total params", num: true },
      ...objs.flatMap((o) => (o.timed ? [{ label: heading(o), num: true }, { label: "p10–p90" }]
        : [{ label: heading(o), num: true }])),
      { label: "figures" },
    ];
    const cells = (m, o) => {
      const x = m.objectives[o.name] || {};
      const value = num(x.value ?? null, (v) => (x.stand_in ? "~" : "") + fmtOf(o)(v),
                        { "data-col": o.column, title: x.stand_in ? "predicted by the cost model" : null });
      return o.timed ? [value, el("td", {}, `${fmt.ms(x.p10)} – ${fmt.ms(x.p90)}`)] : [value];
    };
    const rows = f.members.map((m) => el("tr", { "data-member": m.arch_id },
      el("td", {}, archLink(m.arch_id, this.id, name)),
      num(m.n_layer, fmt.int), num(m.d_model, fmt.int),
      num(m.decoder_params, fmt.int, { "data-col": "decoder_params" }),
      num(m.total_params, fmt.int, { "data-col": "total_params" }),
      ...objs.flatMap((o) => cells(m, o)),
      el("td", {}, m.figures)));
    parts.members.replaceChildren(rows.length ? table(columns, rows, { class: "members" })
      : el("p", { class: "muted" }, "No frontier yet."));
  }

  // ---- compare two devices
  buildCompare() {
    const names = this.detail.devices.map(deviceName);
    const select = (i) => el("select", { "data-compare": i },
      names.map((n, j) => el("option", { value: j, selected: j === i }, n)));
    this.compare = {
      a: select(0), b: select(1), chart: el("div", { class: "chart tall", id: "compare-chart" }),
      summary: el("p", { class: "muted", id: "compare-summary" }), both: el("div"),
    };
    const update = () => this.updateCompare();
    this.compare.a.addEventListener("change", update);
    this.compare.b.addEventListener("change", update);
    return el("section", { class: "card", id: "compare" },
      el("h2", {}, "Compare devices"),
      el("p", {}, "latency on ", this.compare.a, " against latency on ", this.compare.b),
      this.compare.summary, this.compare.chart, this.compare.both);
  }

  updateCompare() {
    const devices = this.detail.devices;
    const fs = new Map(this.frontier.data.map((f) => [f.position, f]));
    const [da, db] = [devices[this.compare.a.value], devices[this.compare.b.value]];
    const [fa, fb] = [fs.get(da.position), fs.get(db.position)];
    if (!fa || !fb) return;
    const first = measuredOf(fa.objectives)[0];
    const latency = (c) => c.measurement.values[first.name] ?? null;
    const latencies = (f) => {
      const out = new Map();
      for (const c of this.deviceCandidates(f)) {
        if (isMeasured(c)) out.set(c.arch_id, c);
      }
      return out;
    };
    const [la, lb] = [latencies(fa), latencies(fb)];
    const shared = [...la.keys()].filter((id) => lb.has(id));
    const onA = new Set(fa.members.map((m) => m.arch_id));
    const onB = new Set(fb.members.map((m) => m.arch_id));
    const [nameA, nameB] = [plotText(deviceName(da)), plotText(deviceName(db))];
    const group = (id) => (onA.has(id) && onB.has(id) ? "on both frontiers"
      : onA.has(id) ? `on ${nameA}'s frontier`
        : onB.has(id) ? `on ${nameB}'s frontier` : "on neither frontier");
    const groups = new Map();
    for (const id of shared) {
      const g = group(id);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(id);
    }
    const colours = { "on both frontiers": "#1b7f3b", "on neither frontier": "#aab4c3",
                      [`on ${nameA}'s frontier`]: "#2357c6",
                      [`on ${nameB}'s frontier`]: "#d9822b" };
    const traces = [...groups].map(([g, ids]) => ({
      type: "scatter", mode: "markers", name: g,
      marker: { size: g === "on neither frontier" ? 5 : 8, color: colours[g] },
      x: ids.map((id) => latency(la.get(id))),
      y: ids.map((id) => latency(lb.get(id))), text: ids,
    }));
    const all = shared.flatMap((id) => [latency(la.get(id)), latency(lb.get(id))]);
    if (all.length) {
      const [lo, hi] = [Math.min(...all), Math.max(...all)];
      traces.push({ type: "scatter", mode: "lines", name: "same latency", x: [lo, hi], y: [lo, hi],
                    line: { color: "#c4cad4", dash: "dot" }, hoverinfo: "skip" });
    }
    plot(this.compare.chart, traces, {
      title: { text: `${first.label}: ${nameA} vs ${nameB}` },
      xaxis: { title: { text: `${nameA} ${heading(first)}` }, type: "log" },
      yaxis: { title: { text: `${nameB} ${heading(first)}` }, type: "log" },
    });
    const both = groups.get("on both frontiers") || [];
    this.compare.summary.textContent = `${shared.length} architectures measured on both; `
      + `${both.length} on both frontiers (good on both devices).`;
    this.compare.summary.dataset.shared = String(shared.length);
    const rows = both.map((id) => el("tr", {},
      el("td", {}, archLink(id, this.id, deviceName(da))),
      num(la.get(id).decoder_params, fmt.int),
      num(latency(la.get(id)), fmt.ms), num(latency(lb.get(id)), fmt.ms)));
    this.compare.both.replaceChildren(rows.length ? table([
      { label: "on both frontiers" }, { label: "decoder params", num: true },
      { label: `${deviceName(da)} ms`, num: true }, { label: `${deviceName(db)} ms`, num: true },
    ], rows) : "");
  }

  // ---- the candidate table (sortable)
  buildCandidates() {
    this.candidatesTable = el("div");
    this.candidatesNote = el("p", { class: "muted", id: "candidates-note" });
    return el("section", { class: "card", id: "candidates" },
      el("h2", {}, "Candidates"), this.candidatesNote, this.candidatesTable);
  }

  updateCandidates() {
    if (this.loading) {
      this.candidatesNote.textContent = "loading the candidates…";
      this.candidatesTable.replaceChildren();
      return;
    }
    const names = new Map(this.detail.devices.map((d) => [d.device_id, deviceName(d)]));
    const objs = measuredOf(this.detail.devices[0]?.objectives);
    const columns = [
      ["seq", "seq", (c) => c.seq, true], ["device", "device", (c) => names.get(c.device_id) || c.device, false],
      ["iteration", "iteration", (c) => c.iteration, true], ["arch_id", "architecture", (c) => c.arch_id, false],
      ["origin", "origin", (c) => c.origin, false],
      ["decoder_params", "decoder params", (c) => c.decoder_params, true],
      ...objs.map((o) => [o.column, heading(o), (c) => c.measurement?.values?.[o.name] ?? null, true]),
      ["status", "status", (c) => c.measurement?.status ?? (c.measure === "screened" ? "screened" : "pending"), false],
      ["cache_hit", "cache hit", (c) => (c.cache_hit ? "yes" : "no"), false],
    ];
    const column = columns.find((c) => c[0] === this.sort.key) || columns[0];
    const get = column[2];
    const dir = this.sort.dir;
    const sorted = this.candidates.slice().sort((x, y) => {
      const [a, b] = [get(x), get(y)];
      if (a === b) return x.seq - y.seq;
      if (a === null) return 1;
      if (b === null) return -1;
      return (a < b ? -1 : 1) * dir;
    });
    const shown = this.showAll ? sorted : sorted.slice(0, TABLE_ROWS);
    const formats = { decoder_params: fmt.int,
                      ...Object.fromEntries(objs.map((o) => [o.column, fmtOf(o)])) };
    const head = el("tr", {}, columns.map(([key, label, , numeric]) => el("th", {
      class: `sortable${numeric ? " num" : ""}${key === this.sort.key
        ? (dir > 0 ? " sorted-asc" : " sorted-desc") : ""}`,
      "data-sort": key,
      onclick: () => {
        this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : 1 };
        this.updateCandidates();
      },
    }, label)));
    const rows = shown.map((c) => el("tr", { "data-seq": c.seq }, columns.map(([key, , value, numeric]) => {
      const v = value(c);
      if (key === "arch_id") return el("td", {}, archLink(c.arch_id, this.id, names.get(c.device_id)));
      if (numeric) return num(v, formats[key] || String, { "data-col": key });
      return el("td", { "data-col": key }, v);
    })));
    this.candidatesTable.replaceChildren(el("div", { class: "table-wrap" },
      el("table", { id: "candidate-table" }, el("thead", {}, head), el("tbody", {}, rows))));
    const more = !this.showAll && sorted.length > TABLE_ROWS
      ? el("button", { class: "button", onclick: () => { this.showAll = true; this.updateCandidates(); } },
        `show all ${fmt.int(sorted.length)}`) : null;
    this.candidatesNote.replaceChildren(
      `${fmt.int(this.candidates.length)} candidates with their measurements (baselines: iteration -1), `
      + `showing ${fmt.int(shown.length)}; click a column to sort. `, more || "");
    this.candidatesNote.dataset.count = String(this.candidates.length);
  }
}

// ------------------------------------------------------------------ architecture page
async function pageArchitecture(main, archId) {
  const params = new URLSearchParams(location.search);
  const searchId = params.get("search");
  const device = params.get("device");
  const [arch, measurements] = await Promise.all([
    api(`/architectures/${encodeURIComponent(archId)}`),
    api(`/architectures/${encodeURIComponent(archId)}/measurements`),
  ]);
  const facts = el("dl", { class: "facts" }, [
    ["backbone", arch.backbone], ["layers", arch.n_layer], ["d_model", arch.d_model],
    ["decoder params", fmt.int(arch.decoder_params)], ["total params", fmt.int(arch.total_params)],
    ["measurements", arch.measurements],
  ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k }, v)]));
  const paramTable = table([{ label: "part" }, { label: "parameters", num: true }],
    Object.entries(arch.params).map(([k, v]) => el("tr", { "data-param": k },
      el("td", {}, k), num(v, fmt.int))), { id: "params" });
  const rows = measurements.data.map((m) => {
    const s = m.settings;
    const timed = m.values.latency !== undefined ? "latency" : "decode_latency";
    const lat = m.stats[timed] || {};
    const ctx = m.context || {};
    const load = (ctx.load_avg_before || [])[0];
    return el("tr", { "data-measurement": m.id },
      el("td", {}, m.device || m.device_id), el("td", {}, badge(m.status)),
      el("td", { class: "wrap" }, `${s.runtime} ${s.device} ${s.metric}${s.decode ? " + decode" : ""}, `
        + `${s.output} output, ${s.threads} thr, `
        + `seq ${s.seq_len}, budget ${s.time_budget_s} s`),
      num(m.values.latency ?? null, fmt.ms, { "data-col": "latency_ms" }),
      num(m.values.decode_latency ?? null, fmt.ms, { "data-col": "decode_latency_ms" }),
      el("td", {}, `${fmt.ms(lat.p10)} – ${fmt.ms(lat.p90)}`),
      num(lat.mean, fmt.ms), num(lat.cv, fmt.pct), num(lat.n, fmt.int),
      num(m.values.memory ?? null, fmt.mb, { "data-col": "peak_memory_mb" }),
      num(load, (v) => (v === undefined || v === null ? "-" : v.toFixed(2))),
      el("td", {}, ctx.busy === true ? "busy" : ctx.busy === false ? "no" : "-"),
      el("td", {}, fmt.time(m.created_at)),
      el("td", { class: "error" }, m.error || ""));
  });
  const measured = table([
    { label: "device" }, { label: "status" }, { label: "settings" },
    { label: "prefill ms", num: true }, { label: "decode ms", num: true },
    { label: "p10–p90 ms" }, { label: "mean ms", num: true },
    { label: "cv", num: true }, { label: "runs", num: true }, { label: "memory MiB", num: true },
    { label: "load", num: true }, { label: "busy" }, { label: "measured" }, { label: "error" },
  ], rows, { id: "measurements" });
  const blob = new Blob([JSON.stringify(arch.config, null, 2)], { type: "application/json" });
  const downloads = el("div", { class: "buttons", id: "downloads" },
    el("a", { class: "button", href: URL.createObjectURL(blob), download: `${archId}.json` },
      "config (json)"));
  const exportNote = el("p", { class: "muted" });
  if (searchId) {
    const only = device ? `?device=${encodeURIComponent(device)}` : "";
    const frontier = await api(`/searches/${searchId}/frontier${only}`);
    const f = frontier.data[0];
    const listed = f && (f.members.some((m) => m.arch_id === archId)
      || f.baselines.some((b) => b.baseline.arch_id === archId));
    if (listed) {
      const base = `/searches/${searchId}/export?ids=${encodeURIComponent(archId)}`
        + (device ? `&device=${encodeURIComponent(device)}` : "");
      for (const format of ["json", "csv", "pt", "onnx"]) {
        downloads.append(el("a", { class: "button", href: `${base}&format=${format}`, download: "",
                                   "data-export": format }, `export ${format}`));
      }
    } else {
      exportNote.textContent = `Exports (onnx, pt, csv) cover the frontier and baselines of a `
        + `search; this architecture is on neither for search #${searchId} on ${device}.`;
    }
  } else {
    exportNote.textContent = "Open this page from a search's frontier to export onnx, pt or csv.";
  }
  main.replaceChildren(
    el("h1", {}, "Architecture ", el("span", { class: "mono" }, archId)),
    searchId ? el("p", {}, el("a", { href: `/ui/searches/${searchId}` }, `← search #${searchId}`)) : null,
    el("section", { class: "card" }, el("h2", {}, "Summary"), facts,
      el("h3", {}, "Downloads"), downloads, exportNote),
    el("section", { class: "card" }, el("h2", {}, "Parameters"), paramTable),
    el("section", { class: "card" }, el("h2", {}, `Measurements (${measurements.count})`), measured),
    el("section", { class: "card" }, el("h2", {}, "Config"),
      el("pre", { id: "config" }, JSON.stringify(arch.config, null, 2))));
}

// ----------------------------------------------------------------------- devices page
async function pageDevices(main) {
  const devices = await api("/devices");
  const agentsBox = el("div", { id: "agents" }, el("p", { class: "muted" }, "asking the agents…"));
  const rows = devices.data.map((d) => {
    const info = d.info || {};
    const versions = info.versions || {};
    return el("tr", { "data-device": d.name },
      el("td", {}, d.name), el("td", { class: "mono" }, d.fingerprint),
      el("td", {}, info.hostname || "-"), el("td", {}, `${info.os || "-"} ${info.machine || ""}`),
      el("td", {}, info.cpu_model || "-"),
      num(info.cores_logical, fmt.int), num(info.memory_total_mb, (v) => (v ? fmt.int(Math.round(v)) : "-")),
      el("td", {}, (info.gpus || []).map((g) => g.name || JSON.stringify(g)).join(", ") || "none"),
      num(d.measurements, fmt.int, { "data-col": "measurements" }),
      el("td", { class: "wrap" }, Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(", ")),
      el("td", {}, fmt.time(d.last_seen)));
  });
  main.replaceChildren(
    el("h1", {}, "Devices"),
    el("section", { class: "card" }, el("h2", {}, `Devices measured on (${devices.count})`),
      table([{ label: "name" }, { label: "fingerprint" }, { label: "host" }, { label: "os" },
             { label: "cpu" }, { label: "cores", num: true }, { label: "memory MB", num: true },
             { label: "gpus" }, { label: "measurements", num: true }, { label: "versions" },
             { label: "last seen" }], rows, { id: "devices" })),
    el("section", { class: "card" }, el("h2", {}, "Agents now"), agentsBox));
  const agents = await api("/agents");
  const agentRows = agents.data.map((a) => el("tr", { "data-agent": a.name },
    el("td", {}, a.name), el("td", { class: "mono" }, a.url),
    el("td", {}, a.reachable ? badge("up") : badge("down")),
    el("td", {}, a.device ? a.device.name : "-"),
    el("td", { class: "muted" }, a.error || "")));
  agentsBox.replaceChildren(
    el("p", { class: "muted" }, `from ${agents.file}`),
    agents.count ? table([{ label: "agent" }, { label: "url" }, { label: "now" },
                          { label: "device" }, { label: "error" }], agentRows, { id: "agents-table" })
      : el("p", { class: "muted" }, "No named agent: controller agents add NAME URL."));
}

// ----------------------------------------------------------------------------- router
function showError(error) {
  if (error instanceof ApiError && error.message === "signed out") return;
  const main = document.getElementById("main");
  main.prepend(el("p", { class: "error", id: "page-error" }, String(error.message || error)));
  console.error(error);
}

async function route() {
  const main = document.getElementById("main");
  const path = location.pathname;
  if (document.body.dataset.auth === "cookie") document.querySelector(".signout").hidden = false;
  if (!path.startsWith("/ui/devices")) {
    OBJECTIVES = new Map((await api("/objectives")).data.map((o) => [o.name, o]));
  }
  let match;
  const nav = path.startsWith("/ui/devices") ? "devices" : "searches";
  document.querySelector(`[data-nav="${nav}"]`).classList.add("current");
  if (/^\/ui\/?$/.test(path)) {
    document.title = "Searches - LTS";
    await pageSearches(main);
  } else if ((match = path.match(/^\/ui\/searches\/(\d+)\/?$/))) {
    document.title = `Search #${match[1]} - LTS`;
    await new SearchPage(main, Number(match[1])).load();
  } else if ((match = path.match(/^\/ui\/architectures\/([^/]+)\/?$/))) {
    document.title = `Architecture ${decodeURIComponent(match[1])} - LTS`;
    await pageArchitecture(main, decodeURIComponent(match[1]));
  } else if (/^\/ui\/devices\/?$/.test(path)) {
    document.title = "Devices - LTS";
    await pageDevices(main);
  } else {
    main.replaceChildren(el("h1", {}, "Not found"),
      el("p", {}, "No such page: ", el("a", { href: "/ui/" }, "see the searches")));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  route()
    .catch(showError)
    .finally(() => {
      performance.mark("lts-ready");
      document.body.dataset.ready = "1";
    });
});
