"""``controller results`` and ``controller searches`` (their output: the search report of
:mod:`controller.report`, the list of stored searches)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lts.controller.commands._edge import check_range, user_errors
from lts.controller.report import (
    Comparison,
    CostModelSummary,
    DeviceReport,
    ModelRow,
    SearchReport,
    build_report,
)
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


def register(app: typer.Typer) -> None:
    """Add ``results`` and ``searches`` to ``app``."""
    app.command("results")(results)
    app.command("searches")(searches)


def results(
    search_id: Annotated[
        int | None, typer.Argument(help="The search (default: the latest).", show_default=False)
    ] = None,
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
        if search_id is None:
            latest = store.latest_search()
            if latest is None:
                raise ConfigError("search", f"no search in {store.url}")
            search_id = latest.id
        report = build_report(store, search_id, device)
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
    table = Table(title=f"Searches ({len(found)})")
    for name in ("id", "name", "status", "created (UTC)", "agents", "iterations", "seed"):
        table.add_column(name, justify="right" if name in ("id", "seed") else "left")
    for s in found:
        devices = per_search[s.id]
        done = ", ".join(f"{d.iteration_done + 1}" for d in devices)
        table.add_row(
            str(s.id),
            s.name or "",
            _status(s.status),
            s.created_at.strftime("%Y-%m-%d %H:%M"),
            ", ".join(d.agent for d in devices),
            f"{done} / {s.settings.get('iterations')}",
            str(s.seed),
        )
    output_console().print(table)


# ---------------------------------------------------------------------------- rendering
def render_report(console: Console, report: SearchReport) -> None:
    """The end-of-search tables: per device, its frontier and the baseline comparison."""
    s = report.search
    title = f"Search {s.id}" + (f" ({s.name})" if s.name else "")
    console.print(f"[bold]{title}[/bold]: {_status(s.status)}")
    if s.message and s.status != "done":
        console.print(f"  {s.message}")
    for d in report.devices:
        console.print(_frontier_table(d))
        if d.comparisons:
            console.print(_comparison_table(d))


def _device_title(d: DeviceReport) -> str:
    """Three lines: the device's progress; what it did with its candidates; the cost model's
    error (left out when there is none)."""
    name = d.device or d.agent
    hv = f", hypervolume {d.hypervolume:.4f}" if d.hypervolume is not None else ""
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


def _frontier_table(d: DeviceReport) -> Table:
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
    caption = f"Pareto frontier ({which}; latencies: median, p10-p90)"
    if any(f.stand_in for r in d.frontier for f in r.values.values()):
        caption += "\n~: predicted by the cost model (a quick measurement did not measure it)"
    table = Table(title=_device_title(d), caption=caption)
    table.add_column("arch_id", no_wrap=True)
    for name in ("layers", "d_model", "decoder params", "total params"):
        table.add_column(name, justify="right")
    for o in measured:
        table.add_column(f"{o.label} {o.unit}", justify="right")
    for r in d.frontier:
        cells = [r.arch_id, str(r.n_layer), str(r.d_model), _params(r.decoder_params),
                 _params(r.total_params)]  # fmt: skip
        for i, o in enumerate(measured):
            f = r.values.get(o.name)
            text = "-" if f is None else ("~" if f.stand_in else "") + _num(f.value, 2)
            if f is not None and o.timed and f.p10 is not None:
                text += f" ({_num(f.p10, 1)}-{_num(f.p90, 1)})"
            if mark and i == 0 and r.figures == "final":
                text += "*"
            cells.append(text)
        table.add_row(*cells)
    if d.message and d.status != "done":
        table.caption = f"{table.caption}\n{d.message}"
    return table


def _comparison_table(d: DeviceReport) -> Table:
    table = Table(
        title=f"{d.device or d.agent}: layer-scaled baselines",
        caption="match: the fastest frontier model with at least the baseline's decoder params; "
        "ratios: baseline / match (above 1: the match is faster, smaller)",
    )
    measured = [get(n) for n in d.objectives if get(n).measured]
    table.add_column("baseline", justify="right")
    table.add_column("decoder params", justify="right")
    for o in measured:
        table.add_column(f"{o.label} {o.unit}", justify="right")
    table.add_column("match", no_wrap=True)
    table.add_column("params", justify="right")
    for o in measured:
        table.add_column(f"{o.label} ratio", justify="right", style="bold")
    for c in d.comparisons:
        table.add_row(*_comparison_cells(c, [o.name for o in measured]))
    return table


def _comparison_cells(c: Comparison, names: list[str]) -> list[str]:
    b: ModelRow = c.baseline
    head = [f"{b.n_layer} layer{'s' if b.n_layer != 1 else ''}", _params(b.decoder_params)]
    head += [_num(b.value(n), 2) if b.error is None else "failed" for n in names]
    if c.match is None:
        return [*head, "none as large", "", *([""] * len(names))]
    ratios = []
    for n in names:
        ratio = c.ratios.get(n)
        stand_in = c.match.values[n].stand_in if n in c.match.values else False
        ratios.append(("~" if stand_in else "") + (f"{ratio:.2f}x" if ratio is not None else "-"))
    return [*head, c.match.arch_id, _params(c.match.decoder_params), *ratios]


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
