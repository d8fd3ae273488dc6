// The LTS dashboard's search page, its decision parts (methods of SearchPage, search.js):
// the budget form (GET /searches/{id}/pick), the models good on every device (the joint
// report) and the comparison of two devices; and what a device's hypervolume means.
"use strict";

Object.assign(SearchPage.prototype, {
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
  },

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
  },

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
  },

  // ---- models on every device (the joint report)
  buildJoint() {
    this.joint = { note: el("p", { class: "muted", id: "joint-note" }), table: el("div") };
    return el("section", { class: "card", id: "joint" }, el("h2", {}, "Good on every device"),
      this.joint.note, this.joint.table);
  },

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
  },

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
  },

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
  },

});

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
