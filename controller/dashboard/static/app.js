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

// ---------------------------------------------------------------------- searches page
// One request: the list carries each search's device headers.
async function pageSearches(main) {
  const params = new URLSearchParams(location.search);
  const head = await api("/searches?limit=1");
  const pages = Math.max(1, Math.ceil(head.count / PAGE_SIZE));
  const page = Math.min(Math.max(1, parseInt(params.get("page") || "1", 10) || 1), pages);
  const end = head.count - (page - 1) * PAGE_SIZE;
  const start = Math.max(0, end - PAGE_SIZE);
  const listed = end > 0 ? (await api(`/searches?offset=${start}&limit=${end - start}`)).data : [];
  const searches = listed.slice().reverse();  // newest first
  const columns = [
    { label: "#" }, { label: "name" }, { label: "status" }, { label: "devices" },
    { label: "iterations" }, { label: "candidates", num: true }, { label: "hypervolume" },
    { label: "started" }, { label: "finished" },
  ];
  const perDevice = (s, text) => (s.devices.length > 1
    ? s.devices.map((d) => `${deviceName(d)}: ${text(d)}`) : s.devices.map(text)).join(", ");
  const rows = searches.map((s) => el("tr", { "data-search": s.id },
    el("td", {}, el("a", { href: `/ui/searches/${s.id}` }, `#${s.id}`)),
    el("td", {}, el("a", { href: `/ui/searches/${s.id}` }, s.name || "(unnamed)")),
    el("td", {}, badge(s.status)),
    el("td", { "data-col": "devices" }, s.devices.map(deviceName).join(", ")),
    el("td", { "data-col": "iterations" },
      perDevice(s, (d) => `${d.iterations_done} / ${d.iterations}`)),
    num(s.devices.reduce((n, d) => n + d.candidates, 0), fmt.int, { "data-col": "candidates" }),
    el("td", { "data-col": "hypervolume", title: "the share of each device's objective box "
                 + "its frontier dominates (see the search's page)" },
      perDevice(s, (d) => fmt.hv(d.hypervolume))),
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
  if (searches.some((s) => s.status === "running")) {
    setTimeout(() => pageSearches(main).catch(showError), 5 * POLL_MS);
  }
}

// ------------------------------------------------------------------------ search page
const MB = (bytes) => (bytes === null || bytes === undefined ? "-" : (bytes / 1e6).toFixed(1));
const sizeText = (bytes) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${MB(bytes)} MB`);

function archHref(archId, searchId, device) {
  const query = searchId ? `?search=${searchId}&device=${encodeURIComponent(device || "")}` : "";
  return `/ui/architectures/${encodeURIComponent(archId)}${query}`;
}

// A device's points (columns) as the rows the charts and the candidate table use.
function pointRows(device) {
  const p = device.points;
  return p.seq.map((seq, i) => ({
    seq, arch_id: p.arch_id[i], iteration: p.iteration[i], origin: p.origin[i],
    n_layer: p.n_layer[i], decoder_params: p.decoder_params[i], status: p.status[i],
    cache_hit: p.cache_hit[i], device_id: device.device_id, device: deviceName(device),
    values: Object.fromEntries(Object.entries(p.values).map(([n, v]) => [n, v[i]])),
  }));
}

// A device's frontier (columns) as rows.
function frontierRows(f) {
  return f.arch_id.map((arch_id, i) => ({
    arch_id, n_layer: f.n_layer[i], d_model: f.d_model[i], decoder_params: f.decoder_params[i],
    total_params: f.total_params[i], weight_bytes: f.weight_bytes[i], onnx_bytes: f.onnx_bytes[i],
    figures: f.figures[i],
    objectives: Object.fromEntries(Object.entries(f.objectives).map(([n, o]) => [n, {
      value: o.value[i], p10: o.p10[i], p90: o.p90[i], stand_in: o.stand_in[i] }])),
  }));
}

class SearchPage {
  constructor(main, searchId) {
    this.main = main;
    this.id = searchId;
    this.sections = new Map();  // position -> {node, parts}
    this.sort = { key: "seq", dir: 1 };
    this.showAll = false;
    this.showAllMembers = new Set();
  }

  async load() {
    // Two requests: the search (settings, progress, hypervolume history) and its compact view
    // (every device's frontier, baselines and candidates as columns, the joint report).
    const [detail, view] = await Promise.all([
      api(`/searches/${this.id}`), api(`/searches/${this.id}/view`),
    ]);
    this.detail = detail;
    this.setView(view);
    this.build();
    performance.mark("lts-first-view");
    this.update();
    performance.mark("lts-data");
    if (detail.status === "running") this.schedule();
  }

  setView(view) {
    this.view = view;
    this.candidates = view.devices.flatMap(pointRows);
  }

  schedule() {
    this.timer = setTimeout(() => this.poll().catch(showError), POLL_MS);
  }

  async poll() {
    const detail = await api(`/searches/${this.id}`);
    const changed = detail.status !== this.detail.status
      || JSON.stringify(detail.devices) !== JSON.stringify(this.detail.devices);
    this.detail = detail;
    if (changed) {
      this.setView(await api(`/searches/${this.id}/view`));
      this.update();
    } else {
      this.updateHeader();  // nothing new: redraw nothing
    }
    if (detail.status === "running") this.schedule();
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
      this.buildBudget(),
    ];
    for (const device of d.devices) {
      const section = this.buildDevice(device);
      this.sections.set(device.position, section);
      nodes.push(section.node);
    }
    if (d.devices.length >= 2) nodes.push(this.buildJoint(), this.buildCompare());
    nodes.push(this.buildCandidates());
    this.main.replaceChildren(...nodes);
  }

  buildDevice(device) {
    const slices = new Map(measuredOf(device.objectives).map((o) => [o.name,
      el("div", { class: "chart", "data-chart": o.name })]));
    const parts = {
      status: el("span"), stats: el("div", { class: "stats" }), warnings: el("div"),
      hv: el("div", { class: "chart", "data-chart": "hypervolume" }), slices,
      cube: el("div", { class: "chart tall", "data-chart": "frontier3d" }), hvNote: el("p", { class: "muted" }),
      baselines: el("div"), members: el("div"), exports: el("div", { class: "buttons" }),
    };
    const node = el("section", { class: "card device", "data-device": deviceName(device),
                                 "data-position": device.position },
      el("h2", {}, `${device.agent}`, device.device && device.device !== device.agent
        ? el("span", { class: "muted" }, ` (${device.device})`) : null, " ", parts.status),
      parts.warnings, parts.stats, parts.hvNote,
      el("div", { class: "charts" }, parts.hv, ...slices.values(), parts.cube),
      el("h3", {}, "Baselines against the frontier"), parts.baselines,
      el("h3", {}, "Pareto frontier"), parts.exports, parts.members);
    return { node, parts };
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
      ? `live · ${this.candidates.length} candidates · updated ${new Date().toISOString().slice(11, 19)} UTC`
      : "";
  }

  update() {
    this.updateHeader();
    const byPosition = new Map(this.view.devices.map((f) => [f.position, f]));
    for (const device of this.detail.devices) {
      const section = this.sections.get(device.position);
      const f = byPosition.get(device.position);
      if (section && f) this.updateDevice(section.parts, device, f);
    }
    if (this.joint) this.updateJoint();
    if (this.compare) this.updateCompare();
    this.updateCandidates();
  }

  updateDevice(parts, device, f) {
    parts.status.replaceChildren(badge(device.status));
    parts.warnings.replaceChildren(...f.reliability.warnings.map((w) =>
      el("p", { class: "warning", "data-warning": "reliability" }, w)));
    const members = frontierRows(f.frontier);
    // The counts are the API's (the one count of a device's candidates), not the page's.
    parts.stats.replaceChildren(
      stat("iteration", `${device.iterations_done} / ${device.iterations}`, "iterations"),
      stat("candidates", fmt.int(device.candidates), "candidates"),
      stat("measured", fmt.int(device.measured), "measured"),
      stat("cache hits", fmt.int(device.cache_hits), "cache_hits"),
      stat("screened", fmt.int(device.screened ?? 0), "screened"),
      stat("failed", fmt.int(device.failed), "failed"),
      stat("frontier", fmt.int(members.length), "frontier"),
      stat("hypervolume", fmt.hv(device.hypervolume), "hypervolume"),
      stat("vs baselines", fmt.ratio(f.hypervolume_ratio), "hypervolume_ratio"));
    parts.hvNote.textContent = hypervolumeNote(f);
    parts.hvNote.dataset.hv = "note";
    const measured = pointRows(f).filter((c) => c.iteration >= 0 && c.status === "done"
      && Object.values(c.values).some((v) => v !== null));
    this.plotDevice(parts, device, f, measured, members);
    this.tableBaselines(parts, f);
    this.tableMembers(parts, f, members);
  }

  hoverOf(objs) {
    return "%{customdata[0]}<br>%{x:,} decoder params · %{customdata[1]} layers<br>"
      + objs.map((o, i) => `${o.label} %{customdata[${i + 2}]:.2f} ${o.unit}`).join("<br>")
      + "<extra>%{fullData.name}</extra>";
  }

  clickable(node, device) {
    if (node.dataset.clickable) return;
    node.dataset.clickable = "1";
    node.on("plotly_click", (event) => {
      const id = event.points?.[0]?.customdata?.[0];
      if (id) location.assign(archHref(id, this.id, device));
    });
  }

  plotDevice(parts, device, f, measured, members) {
    const history = this.detail.hypervolume.filter((h) => h.device_id === f.device_id);
    plot(parts.hv, [{ x: history.map((h) => h.iteration), y: history.map((h) => h.hypervolume),
                      mode: "lines+markers", name: "hypervolume" }],
         { title: { text: "Hypervolume per iteration" },
           xaxis: { title: { text: "iteration" }, dtick: Math.max(1, Math.ceil(history.length / 10)),
                    range: history.length === 1 ? [-0.5, 0.5] : undefined },
           yaxis: { title: { text: "share of the box dominated" } }, showlegend: false });
    const points = measured.length > 2000 && hasWebGL ? "scattergl" : "scatter";
    const objs = measuredOf(f.objectives);
    const base = f.baselines.map((b) => b.baseline);
    const value = (m, name) => m.objectives[name]?.value ?? null;
    const hover = this.hoverOf(objs);
    const name = deviceName(f);
    for (const o of objs) {
      const traces = [
        { type: points, mode: "markers", name: "candidates (search-time)",
          marker: { color: "#aab4c3", size: 5 },
          x: measured.map((c) => c.decoder_params), y: measured.map((c) => c.values[o.name] ?? null),
          customdata: measured.map((c) => [c.arch_id, c.n_layer, ...objs.map((p) => c.values[p.name])]),
          hovertemplate: hover },
        { type: "scatter", mode: "markers", name: "frontier", marker: { color: "#2357c6", size: 8 },
          x: members.map((m) => m.decoder_params), y: members.map((m) => value(m, o.name)),
          customdata: members.map((m) => [m.arch_id, m.n_layer, ...objs.map((p) => value(m, p.name))]),
          hovertemplate: hover },
        { type: "scatter", mode: "lines+markers", name: "layer-scaled baselines",
          marker: { color: "#b3261e", symbol: "diamond", size: 9 }, line: { dash: "dot" },
          x: base.map((b) => b.decoder_params), y: base.map((b) => value(b, o.name)),
          customdata: base.map((b) => [b.arch_id, b.n_layer, ...objs.map((p) => value(b, p.name))]),
          hovertemplate: hover },
      ];
      const node = parts.slices.get(o.name);
      plot(node, traces, {
        title: { text: `Decoder parameters vs ${o.label}` },
        xaxis: { title: { text: "decoder parameters" }, tickformat: "~s" },
        yaxis: { title: { text: (o.timed ? "median " : "") + heading(o) } },
      });
      this.clickable(node, name);
    }
    if (!hasWebGL) {
      parts.cube.replaceChildren(el("p", { class: "muted", style: "padding: 12px" },
        "The 3-D view needs WebGL, which this browser does not offer."));
      return;
    }
    const [oy, oz] = [objs[0], objs[1] || objs[0]];
    const colour = objs[2] || oy;
    plot(parts.cube, [{
      type: "scatter3d", mode: "markers", name: "frontier",
      x: members.map((m) => m.decoder_params), y: members.map((m) => value(m, oy.name)),
      z: members.map((m) => value(m, oz.name)),
      customdata: members.map((m) => [m.arch_id, m.n_layer, ...objs.map((p) => value(m, p.name))]),
      hovertemplate: hover,
      marker: { size: 4, color: members.map((m) => value(m, colour.name)), colorscale: "Viridis",
                colorbar: { title: { text: heading(colour) }, thickness: 14 } },
    }], {
      title: { text: `Frontier in 3-D (colour: ${colour.label})` }, margin: { l: 0, r: 0, t: 36, b: 0 },
      scene: { camera: { eye: { x: 1.9, y: 1.9, z: 1.1 } },
               xaxis: { title: { text: "decoder params" } },
               yaxis: { title: { text: `${oy.label} ${oy.unit}` } },
               zaxis: { title: { text: `${oz.label} ${oz.unit}` } } },
    });
    this.clickable(parts.cube, name);
  }

  tableBaselines(parts, f) {
    const objs = measuredOf(f.objectives);
    const value = (m, o) => m?.objectives?.[o.name]?.value ?? null;
    const columns = [
      { label: "baseline" }, { label: "decoder params", num: true },
      { label: "fastest frontier model with as many params" }, { label: "decoder params", num: true },
      ...objs.flatMap((o) => [{ label: `${heading(o)}: baseline → model`, num: true },
                              { label: "ratio", num: true }]),
    ];
    const pair = (b, o) => el("td", { class: "num" },
      `${fmtOf(o)(value(b.baseline, o))} → ${b.match ? fmtOf(o)(value(b.match, o)) : "-"}`);
    const rows = f.baselines.map((b) => el("tr", { "data-baseline": b.baseline.arch_id },
      el("td", {}, `${b.baseline.n_layer} layer${b.baseline.n_layer === 1 ? "" : "s"}, `
        + `d_model ${b.baseline.d_model}`),
      num(b.baseline.decoder_params, fmt.int),
      el("td", {}, b.match ? archLink(b.match.arch_id, this.id, deviceName(f)) : "none as large"),
      num(b.match?.decoder_params, fmt.int),
      ...objs.flatMap((o) => [pair(b, o),
        num(b.ratios[o.name] ?? null, fmt.ratio, { "data-col": `ratio-${o.name}` })])));
    parts.baselines.replaceChildren(rows.length ? el("div", {}, table(columns, rows, { class: "baselines" }),
      el("p", { class: "muted" }, "ratio: baseline / model; above 1x the frontier model is faster or "
        + "smaller than the baseline"))
      : el("p", { class: "muted" }, "No baseline measured on this device."));
  }

  tableMembers(parts, f, members) {
    const name = deviceName(f);
    const base = `/searches/${this.id}/export?device=${encodeURIComponent(name)}`;
    const weights = members.reduce((n, m) => n + m.weight_bytes, 0);
    const onnx = members.reduce((n, m) => n + m.onnx_bytes, 0);
    const size = { json: null, csv: null, pt: weights, onnx };
    parts.exports.replaceChildren(
      el("span", { class: "muted" }, "export the frontier:"),
      ...["json", "csv", "pt", "onnx"].map((format) =>
        el("a", { class: "button", href: `${base}&format=${format}`, download: "",
                  "data-export": format, title: size[format] ? "estimated size of the download" : null },
          size[format] ? `${format} (≈ ${sizeText(size[format])})` : format)));
    const objs = measuredOf(f.objectives);
    const columns = [
      { label: "architecture" }, { label: "layers", num: true }, { label: "d_model", num: true },
      { label: "decoder params", num: true }, { label: "total params", num: true },
      { label: "fp32 weights MB", num: true }, { label: "ONNX ≈ MB", num: true },
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
    const all = this.showAllMembers.has(f.position);
    const shown = all ? members : members.slice(0, TABLE_ROWS);
    const rows = shown.map((m) => el("tr", { "data-member": m.arch_id },
      el("td", {}, archLink(m.arch_id, this.id, name)),
      num(m.n_layer, fmt.int), num(m.d_model, fmt.int),
      num(m.decoder_params, fmt.int, { "data-col": "decoder_params" }),
      num(m.total_params, fmt.int, { "data-col": "total_params" }),
      num(m.weight_bytes, MB, { "data-col": "weight_mb" }),
      num(m.onnx_bytes, MB, { "data-col": "onnx_mb" }),
      ...objs.flatMap((o) => cells(m, o)),
      el("td", {}, m.figures)));
    const more = shown.length < members.length ? el("button", { class: "button", onclick: () => {
      this.showAllMembers.add(f.position); this.tableMembers(parts, f, members); } },
    `show all ${fmt.int(members.length)}`) : null;
    parts.members.replaceChildren(rows.length ? table(columns, rows, { class: "members" })
      : el("p", { class: "muted" }, "No frontier yet."), more || "");
  }

  // ---- the budget form: GET /searches/{id}/pick
  buildBudget() {
    const devices = this.detail.devices;
    const objs = measuredOf(devices[0]?.objectives);
    this.budget = { inputs: [], result: el("div", { id: "pick-result" }) };
    const rows = devices.map((d, i) => {
      const check = el("input", { type: "checkbox", "data-pick-device": deviceName(d), checked: i === 0 });
      const inputs = objs.filter((o) => o.bound).map((o) => {
        const input = el("input", { type: "number", min: "0", step: "any", placeholder: "no cap",
                                    "data-cap": o.bound, "data-device": deviceName(d) });
        this.budget.inputs.push(input);
        return el("td", {}, input);
      });
      return el("tr", {}, el("td", {}, el("label", {}, check, " ", deviceName(d))), ...inputs);
    });
    this.budget.by = el("select", { id: "pick-by" },
      el("option", { value: "median" }, "median (half the runs within)"),
      el("option", { value: "p90" }, "p90 (nine runs in ten within)"));
    const form = el("form", { class: "budget", id: "budget-form", onsubmit: (event) => {
      event.preventDefault();
      this.pick().catch((error) => this.budget.result.replaceChildren(
        el("p", { class: "error", id: "pick-error" }, String(error.message || error))));
    } },
    table([{ label: "device (ticked: the model must meet its budget)" },
           ...objs.filter((o) => o.bound).map((o) => ({ label: `max ${heading(o)}` }))], rows),
    el("div", {}, "read each figure as its ", this.budget.by, " ",
      el("button", { class: "button", type: "submit", id: "pick-submit" }, "pick the model")));
    this.budget.form = form;
    return el("section", { class: "card", id: "budget" },
      el("h2", {}, "Pick a model for a budget"),
      el("p", { class: "muted" }, "The frontier model with the most decoder parameters (the lowest "
        + "perplexity the proxy predicts) within every cap; on several devices, among the models "
        + "measured on all of them."),
      form, this.budget.result);
  }

  async pick() {
    const query = new URLSearchParams();
    const ticked = [...this.budget.form.querySelectorAll("[data-pick-device]")]
      .filter((c) => c.checked).map((c) => c.dataset.pickDevice);
    for (const name of ticked) query.append("device", name);
    for (const input of this.budget.inputs) {
      if (input.value !== "" && ticked.includes(input.dataset.device)) {
        query.append(input.dataset.cap, `${input.dataset.device}=${input.value}`);
      }
    }
    query.set("by", this.budget.by.value);
    const answer = await api(`/searches/${this.id}/pick?${query}`);
    this.showPick(answer);
  }

  showPick(p) {
    const out = this.budget.result;
    out.dataset.arch = p.choice ? p.choice.arch_id : "";
    out.dataset.within = String(p.within);
    if (!p.choice) {
      out.replaceChildren(el("p", { class: "warning", id: "pick-none" },
        `No model meets the budget (${p.candidates} considered).`));
      return;
    }
    const c = p.choice;
    const objs = p.objectives.map((n) => OBJECTIVES.get(n));
    const rows = p.devices.map((d) => {
      const m = c.devices[d];
      return el("tr", { "data-pick-row": d }, el("td", {}, d),
        ...objs.flatMap((o) => {
          const f = m.objectives[o.name] || {};
          return [num(f.value ?? null, fmtOf(o)), num(f.p90 ?? null, fmtOf(o))];
        }), el("td", {}, m.figures));
    });
    const device = p.devices[0];
    const href = `/searches/${this.id}/export?device=${encodeURIComponent(device)}`
      + `&ids=${encodeURIComponent(c.arch_id)}&format=onnx`;
    out.replaceChildren(el("div", { class: "choice" },
      el("div", { class: "big" }, "ship ", archLink(c.arch_id, this.id, device),
        `: ${c.n_layer} layers, d_model ${c.d_model}, ${fmt.int(c.decoder_params)} decoder parameters`),
      el("p", { id: "pick-size" }, `${fmt.int(c.total_params)} parameters in all: `
        + `${sizeText(c.weight_bytes)} of float32 weights, ONNX ≈ ${sizeText(c.onnx_bytes)}. `
        + `${p.within} of ${p.candidates} models meet the budget.`),
      table([{ label: "device" }, ...objs.flatMap((o) => [{ label: `${heading(o)} median`, num: true },
                                                         { label: "p90", num: true }]),
             { label: "figures" }], rows),
      ...p.notes.map((n) => el("p", { class: "warning" }, n)),
      el("p", {}, "export: ", el("code", {}, p.export), " ",
        el("a", { class: "button", href, download: "", id: "pick-export" },
          `onnx (≈ ${sizeText(c.onnx_bytes)})`))));
  }

  // ---- models on every device (the joint report)
  buildJoint() {
    this.joint = { note: el("p", { class: "muted", id: "joint-note" }), table: el("div") };
    return el("section", { class: "card", id: "joint" }, el("h2", {}, "Good on every device"),
      this.joint.note, this.joint.table);
  }

  updateJoint() {
    const j = this.view.joint;
    if (!j) {
      this.joint.note.textContent = "Not every device has been reached yet.";
      return;
    }
    const objs = j.objectives.map((n) => OBJECTIVES.get(n));
    const members = j.arch_id.map((a, i) => i).filter((i) => j.member[i]);
    this.joint.note.textContent = (j.joint
      ? "A joint search: one population measured on every device. "
      : "Each device's frontier and baselines, and (after the cross step) each frontier measured "
        + "on the other devices. ")
      + `${j.arch_id.length} models have figures on every device, ${members.length} of them on `
      + "the joint frontier (no other model is better on the proxy and on every device at once).";
    this.joint.note.dataset.members = String(members.length);
    const columns = [{ label: "architecture" }, { label: "decoder params", num: true },
      ...j.devices.flatMap((d) => objs.map((o) => ({ label: `${d}: ${heading(o)}`, num: true })))];
    const rows = members.map((i) => el("tr", { "data-joint": j.arch_id[i] },
      el("td", {}, archLink(j.arch_id[i], this.id, j.devices[0])),
      num(j.decoder_params[i], fmt.int),
      ...j.devices.flatMap((d) => objs.map((o) => num(j.values[`${o.name}@${d}`][i], fmtOf(o),
        { "data-col": `${o.name}@${d}` })))));
    this.joint.table.replaceChildren(rows.length ? table(columns, rows, { id: "joint-table" })
      : el("p", { class: "muted" }, "No model on the joint frontier yet."));
  }

  // ---- compare two devices
  buildCompare() {
    const names = this.detail.devices.map(deviceName);
    const select = (i) => el("select", { "data-compare": i },
      names.map((n, j) => el("option", { value: j, selected: j === i }, n)));
    this.compare = {
      a: select(0), b: select(1), chart: el("div", { class: "chart tall", id: "compare-chart" }),
      summary: el("p", { class: "muted", id: "compare-summary" }),
    };
    const update = () => this.updateCompare();
    this.compare.a.addEventListener("change", update);
    this.compare.b.addEventListener("change", update);
    return el("section", { class: "card", id: "compare" },
      el("h2", {}, "Compare devices"),
      el("p", {}, "latency on ", this.compare.a, " against latency on ", this.compare.b),
      this.compare.summary, this.compare.chart);
  }

  updateCompare() {
    const devices = this.detail.devices;
    const j = this.view.joint;
    const [da, db] = [devices[this.compare.a.value], devices[this.compare.b.value]];
    const first = measuredOf(da.objectives)[0];
    const [nameA, nameB] = [deviceName(da), deviceName(db)];
    const xs = j?.values[`${first.name}@${nameA}`] || [];
    const ys = j?.values[`${first.name}@${nameB}`] || [];
    const ids = (j?.arch_id || []).map((a, i) => i).filter((i) => xs[i] !== null && ys[i] !== null);
    const onBoth = ids.filter((i) => j.member[i]);
    const rest = ids.filter((i) => !j.member[i]);
    const trace = (rows, name, colour, size) => ({
      type: "scatter", mode: "markers", name, marker: { color: colour, size },
      x: rows.map((i) => xs[i]), y: rows.map((i) => ys[i]),
      customdata: rows.map((i) => [j.arch_id[i], j.n_layer[i]]),
      hovertemplate: `%{customdata[0]} · %{customdata[1]} layers<br>${plotText(nameA)} %{x:.2f} ${first.unit}`
        + `<br>${plotText(nameB)} %{y:.2f} ${first.unit}<extra>%{fullData.name}</extra>` });
    const traces = [trace(onBoth, "on the joint frontier", "#1b7f3b", 9),
                    trace(rest, "measured on both", "#aab4c3", 6)];
    const all = ids.flatMap((i) => [xs[i], ys[i]]);
    if (all.length) {
      const [lo, hi] = [Math.min(...all), Math.max(...all)];
      traces.push({ type: "scatter", mode: "lines", name: "same latency", x: [lo, hi], y: [lo, hi],
                    line: { color: "#c4cad4", dash: "dot" }, hoverinfo: "skip" });
    }
    plot(this.compare.chart, traces, {
      title: { text: `${first.label}: ${plotText(nameA)} vs ${plotText(nameB)}` },
      xaxis: { title: { text: `${plotText(nameA)} ${heading(first)}` }, type: "log" },
      yaxis: { title: { text: `${plotText(nameB)} ${heading(first)}` }, type: "log" },
    });
    this.clickable(this.compare.chart, nameA);
    this.compare.summary.textContent = `${ids.length} models measured on both; `
      + `${onBoth.length} on the joint frontier (good on every device).`;
    this.compare.summary.dataset.shared = String(ids.length);
  }

  // ---- the candidate table (sortable)
  buildCandidates() {
    this.candidatesTable = el("div");
    this.candidatesNote = el("p", { class: "muted", id: "candidates-note" });
    return el("section", { class: "card", id: "candidates" },
      el("h2", {}, "Candidates"), this.candidatesNote, this.candidatesTable);
  }

  updateCandidates() {
    const objs = measuredOf(this.detail.devices[0]?.objectives);
    const columns = [
      ["seq", "seq", (c) => c.seq, true], ["device", "device", (c) => c.device, false],
      ["iteration", "iteration", (c) => c.iteration, true], ["arch_id", "architecture", (c) => c.arch_id, false],
      ["origin", "origin", (c) => c.origin, false],
      ["decoder_params", "decoder params", (c) => c.decoder_params, true],
      ...objs.map((o) => [o.column, `${heading(o)} (search-time)`, (c) => c.values[o.name] ?? null, true]),
      ["status", "status", (c) => c.status, false],
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
      if (key === "arch_id") return el("td", {}, archLink(c.arch_id, this.id, c.device));
      if (numeric) return num(v, formats[key] || String, { "data-col": key });
      return el("td", { "data-col": key }, v);
    })));
    this.candidatesTable.replaceChildren(el("div", { class: "table-wrap" },
      el("table", { id: "candidate-table" }, el("thead", {}, head), el("tbody", {}, rows))));
    const more = !this.showAll && sorted.length > TABLE_ROWS
      ? el("button", { class: "button", onclick: () => { this.showAll = true; this.updateCandidates(); } },
        `show all ${fmt.int(sorted.length)}`) : null;
    this.candidatesNote.replaceChildren(
      `${fmt.int(this.candidates.length)} candidates with their search-time figures (baselines: `
      + `iteration -1; the frontier above shows final figures where measured again), `
      + `showing ${fmt.int(shown.length)}; click a column to sort. `, more || "");
    this.candidatesNote.dataset.count = String(this.candidates.length);
  }
}

// What a device's hypervolume means: the box it is measured in, and the baselines' share.
function hypervolumeNote(f) {
  const box = f.hypervolume_box;
  const ratio = f.hypervolume_ratio;
  const parts = [];
  if (box) {
    const show = (n, v) => {
      const o = OBJECTIVES.get(n.split("@")[0]);
      const at = n.includes("@") ? ` on ${n.split("@")[1]}` : "";
      return o && o.source === "measured" ? `${o.label}${at} ${v.toFixed(2)} ${o.unit}`
        : `${fmt.int(Math.round(v))} ${o ? o.label : n}`;
    };
    const side = (key) => Object.entries(box[key]).map(([n, v]) => show(n, v)).join(", ");
    parts.push(`Hypervolume: the share of the box from the ideal (${side("ideal")}) to the `
      + `reference point (${side("reference")}) that the frontier dominates; the box is fixed by `
      + "the first iteration, so values compare within this device only.");
  }
  if (ratio !== null && ratio !== undefined) {
    parts.push(`Against the layer-scaled baselines, on one box: ${ratio.toFixed(2)}x their `
      + "hypervolume (above 1x: better than scaling a standard model).");
  }
  return parts.join(" ");
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
