// The LTS dashboard: renders the page its path names from the controller's REST API (the
// searches, architecture and devices pages here, the search page in search.js), with the
// helpers of common.js. Loaded last. No framework and no build step; every value is put in the
// page as text (never as HTML).
"use strict";

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
