"""``controller results`` and ``controller searches`` (their output: the search report of
:mod:`lts.controller.report`, the list of stored searches)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lts.controller.commands._edge import check_range, user_errors
from lts.controller.commands._tables import Col, fitted
from lts.controller.report import (
    Comparison,
    CostModelSummary,
    DeviceReport,
    ModelRow,
    SearchReport,
    build_report,
)
from lts.controller.report.joint import JointReport, joint_report
from lts.controller.report.rows import protocol
from lts.controller.search.lease import live_devices, live_search
from lts.controller.store import DEFAULT_DB, CandidateCounts, Store
from lts.shared.errors import ConfigError
from lts.shared.objectives import get

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help=f"The store: a SQLAlchemy URL or a SQLite file path (default: ./{DEFAULT_DB}).",
        envvar="LTS_DB",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]
SearchArg = Annotated[
    int | None, typer.Argument(help="The search (default: the latest).", show_default=False)
]


def search_or_latest(store: Store, search_id: int | None) -> int:
    """``search_id``, or the latest search's id when None (ConfigError when there is none)."""
    if search_id is not None:
        return search_id
    latest = store.latest_search()
    if latest is None:
        raise ConfigError("search", f"no search in {store.url}")
    return latest.id


def register(app: typer.Typer) -> None:
    """Add ``results`` and ``searches`` to ``app``."""
    app.command("results")(results)
    app.command("searches")(searches)


def results(
    search_id: SearchArg = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Only this device (agent or device name).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a search's frontier per device and the comparison with its baselines."""
    with user_errors():
        check_range("search_id", search_id)
    with user_errors(), Store.open(db, create=False) as store:
        report = build_report(store, search_or_latest(store, search_id), device)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    render_report(output_console(), report)


def output_console() -> Console:
    """Rich console for stdout; wide when stdout is not a terminal (logs, pipes), so that
    tables are not squeezed to 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def searches(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the stored searches."""
    with user_errors(), Store.open(db, create=False) as store:
        found = [live_search(store, s) for s in store.list_searches()]
        per_search = {s.id: live_devices(store, s) for s in found}
    if as_json:
        rows = [
            {
                "id": s.id,
                "name": s.name,
                "status": s.status,
                "created_at": s.created_at.isoformat(),
                "agents": [d.agent for d in per_search[s.id]],
                "iterations_done": [d.iteration_done + 1 for d in per_search[s.id]],
                "iterations": s.settings.get("iterations"),
                "seed": s.seed,
            }
            for s in found
        ]
        typer.echo(json.dumps({"data": rows, "count": len(rows)}))
        return
    cols = [Col("id", "right"), Col("name", drop=2), Col("status"), Col("created (UTC)", drop=3),
            Col("agents"), Col("iterations"), Col("seed", "right", 4)]  # fmt: skip
    cells: list[list[str]] = []
    for s in found:
        devices = per_search[s.id]
        done = ", ".join(f"{d.iteration_done + 1}" for d in devices)
        cells.append([str(s.id), s.name or "", _status(s.status),
                     s.created_at.strftime("%Y-%m-%d %H:%M"), ", ".join(d.agent for d in devices),
                     f"{done} / {s.settings.get('iterations')}", str(s.seed)])  # fmt: skip
    console = output_console()
    console.print(fitted(console, cols, cells, title=f"Searches ({len(found)})"))


# ---------------------------------------------------------------------------- rendering
def render_report(console: Console, report: SearchReport) -> None:
    """The end-of-search tables: per device, its frontier and the baseline comparison, what
    makes its figures doubtful; across devices, the models good on every device."""
    s = report.search
    title = f"Search {s.id}" + (f" ({s.name})" if s.name else "")
    console.print(f"[bold]{title}[/bold]: {_status(s.status)}")
    if s.message and s.status != "done":
        console.print(f"  {s.message}")
    for d in report.devices:
        console.print(_frontier_table(console, d))
        for warning in d.reliability.warnings:
            console.print(f"[yellow]warning[/]: {warning}", soft_wrap=True)
        if d.comparisons:
            console.print(_comparison_table(console, d))
    if len(report.devices) >= 2 and all(d.device_id is not None for d in report.devices):
        console.print(_joint_table(console, joint_report(report)))


def _device_title(d: DeviceReport) -> str:
    """Three lines: the device's progress; what it did with its candidates; the cost model's
    error (left out when there is none)."""
    name = d.device or d.agent
    hv = ""
    if d.hypervolume is not None:
        hv = f", hypervolume {d.hypervolume:.4f} of its box"
        if d.hypervolume_ratio is not None:
            hv += f" ({d.hypervolume_ratio:.2f}x the baselines')"
    lines = [
        f"{name}: {_status(d.status)}, iteration {d.iterations_done}/{d.iterations}{hv}",
        counts_text(d.counts),
        cost_model_text(d.cost_model),
    ]
    return "\n".join(line for line in lines if line)


def counts_text(n: CandidateCounts) -> str:
    """What the search did with a device's candidates, in one phrase."""
    return (
        f"proposed {n.proposed}, measured {n.measured} (quick {n.quick}, full {n.full}), "
        f"screened {n.screened}, {n.cache_hits} from the cache"
    )


def cost_model_text(model: CostModelSummary | None) -> str:
    """The cost model's median errors (MdAPE) as one phrase; "" when there are none."""
    if model is None:
        return ""
    parts = [
        f"{name} {error.mdape:.1%}"
        for name, error in model.errors.items()
        if error.mdape is not None
    ]
    return f"cost model MdAPE: {', '.join(parts)}" if parts else ""


def _frontier_table(console: Console, d: DeviceReport) -> Table:
    figures = {r.figures for r in d.frontier}
    if figures == {"final"}:
        which = "final measurements"
    elif "final" in figures:
        n = sum(r.figures == "final" for r in d.frontier)
        which = f"final measurement of {n} members (marked *), search-time figures otherwise"
    else:
        which = "search-time figures"
    mark = len(figures) > 1
    measured = [get(n) for n in d.objectives if get(n).measured]
    caption = (f"Pareto frontier ({which}; latencies: median, p10-p90); more decoder params: "
               "lower perplexity (the proxy); fp32 MB: the weights, as an ONNX or .pt file "
               "(within 2%)")  # fmt: skip
    if any(f.stand_in for r in d.frontier for f in r.values.values()):
        caption += "\n~: predicted by the cost model (a quick measurement did not measure it)"
    if d.message and d.status != "done":
        caption += f"\n{d.message}"
    cols = [Col("arch_id"), Col("layers", "right", 3), Col("d_model", "right", 5),
            Col("decoder params", "right"), Col("total params", "right", 2),
            Col("fp32 MB", "right", 4)]  # fmt: skip
    for o in measured:
        cols.append(Col(f"{o.label} {o.unit}", "right"))
        if o.timed:
            cols.append(Col("p10-p90", "right", 6))
    rows = []
    for r in d.frontier:
        cells = [r.arch_id, str(r.n_layer), str(r.d_model), _params(r.decoder_params),
                 _params(r.total_params), f"{r.weight_bytes / 1e6:.1f}"]  # fmt: skip
        for i, o in enumerate(measured):
            f = r.values.get(o.name)
            text = "-" if f is None else ("~" if f.stand_in else "") + _num(f.value, 2)
            if mark and i == 0 and r.figures == "final":
                text += "*"
            cells.append(text)
            if o.timed:
                span = f is not None and f.p10 is not None and f.p90 is not None
                cells.append(f"{_num(f.p10, 1)}-{_num(f.p90, 1)}" if span and f else "-")
        rows.append(cells)
    return fitted(console, cols, rows, title=_device_title(d), caption=caption)


def _comparison_table(console: Console, d: DeviceReport) -> Table:
    measured = [get(n) for n in d.objectives if get(n).measured]
    cols = [Col("baseline", "right"), Col("decoder params", "right", 2)]
    cols += [Col(f"{o.label} {o.unit}", "right", 3) for o in measured]
    cols += [Col("match"), Col("params", "right", 1)]
    cols += [Col(f"{o.label} ratio", "right") for o in measured]
    cols += [Col("protocol", "left", 2)]
    rows = [_comparison_cells(c, [o.name for o in measured]) for c in d.comparisons]
    caption = ("match: the fastest frontier model with at least the baseline's decoder params; "
               "ratios: baseline / match (above 1: the match is faster, smaller)")  # fmt: skip
    if any(_protocol(c) == "quick" for c in d.comparisons if c.match is not None):
        caption += ("\nprotocol quick: the ratios rest on quick measurements (the final phase "
                    "had no time left for them: --final-share)")  # fmt: skip
    return fitted(console, cols, rows, title=f"{d.device or d.agent}: layer-scaled baselines",
                  caption=caption)  # fmt: skip


def _joint_table(console: Console, j: JointReport) -> Table:
    """The models on the joint frontier, with each device's figures."""
    names = [get(n) for n in j.objectives]
    cols = [Col("arch_id"), Col("decoder params", "right"), Col("fp32 MB", "right", 2)]
    cols += [Col(f"{d}: {o.label} {o.unit}", "right", 1 if i else 0)
             for d in j.devices for i, o in enumerate(names)]  # fmt: skip
    members = [r for r in j.rows if r.member]
    rows = [[r.arch_id, _params(r.decoder_params), f"{4 * r.total_params / 1e6:.1f}",
             *(_num(r.devices[d].value(o.name), 2) for d in j.devices for o in names)]
            for r in members]  # fmt: skip
    how = ("a joint search: one population measured on every device" if j.joint else
           "each device's frontier and baselines, and each frontier measured on the other "
           "devices (--cross-measure)")  # fmt: skip
    return fitted(
        console,
        cols,
        rows,
        title=f"Good on every device: {len(members)} of the {len(j.rows)} "
        "models measured on all of them",
        caption=f"the joint frontier ({how}): no other model is better on the proxy and on every "
        "device at once; controller pick chooses one for a budget",
    )


def _comparison_cells(c: Comparison, names: list[str]) -> list[str]:
    b: ModelRow = c.baseline
    head = [f"{b.n_layer} layer{'s' if b.n_layer != 1 else ''}", _params(b.decoder_params)]
    head += [_num(b.value(n), 2) if b.error is None else "failed" for n in names]
    if c.match is None:
        return [*head, "none as large", "", *([""] * len(names)), ""]
    ratios = []
    for n in names:
        ratio = c.ratios.get(n)
        stand_in = c.match.values[n].stand_in if n in c.match.values else False
        ratios.append(("~" if stand_in else "") + (f"{ratio:.2f}x" if ratio is not None else "-"))
    return [*head, c.match.arch_id, _params(c.match.decoder_params), *ratios, _protocol(c)]


def _protocol(c: Comparison) -> str:
    """What a comparison's ratios rest on: ``full`` figures on both sides, else ``quick``."""
    rows = (c.baseline, c.match) if c.match is not None else (c.baseline,)
    full = all(protocol(r.figures, r.measure) == "full" for r in rows)
    return "full" if full else "quick"


def size_text(n: int) -> str:
    """A size in bytes as MB (10^6 bytes) or GB."""
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _params(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 100_000 else f"{n:,}"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _status(status: str) -> str:
    colour = {"done": "green", "failed": "red", "interrupted": "yellow", "waiting": "yellow"}
    return f"[{colour.get(status, 'cyan')}]{status}[/]"
