// The LTS dashboard's search page: one SearchPage per visit, drawn from two requests (the
// search and its compact view) and kept up to date while the search runs. Its decision
// parts (budget form, models on every device, compare devices) are in search_decide.js.
"use strict";

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
