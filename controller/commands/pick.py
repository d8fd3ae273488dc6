"""``controller pick``: the model to ship within a budget on one or more devices (the
decision of :mod:`lts.controller.report.pick`, as ``GET /searches/{id}/pick`` answers it)."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.console import Console

from lts.controller.commands._edge import check_range, user_errors
from lts.controller.commands._tables import Col, fitted
from lts.controller.commands.report import (
    DbOption,
    JsonOption,
    SearchArg,
    output_console,
    search_or_latest,
    size_text,
)
from lts.controller.report import build_report
from lts.controller.report.pick import parse_budgets, pick
from lts.controller.report.views_across import PickPublic, pick_public
from lts.controller.store import Store
from lts.shared.objectives import OBJECTIVES

Caps = Annotated[
    list[str] | None,
    typer.Option(
        help="X (on every --device) or DEVICE=X (on that device); repeatable.", show_default=False
    ),
]


def register(app: typer.Typer) -> None:
    app.command("pick")(pick_command)


def pick_command(
    search_id: SearchArg = None,
    device: Annotated[
        list[str] | None,
        typer.Option(
            "--device",
            help="A device (agent or device name); repeat for several: "
            "the model must meet every device's budget.",
            show_default=False,
        ),
    ] = None,
    max_latency_ms: Caps = None,
    max_decode_latency_ms: Caps = None,
    max_memory_mb: Caps = None,
    by: Annotated[
        str,
        typer.Option(
            "--by", help="The figure read against a cap: median | p90 (nine runs in ten within it)."
        ),
    ] = "median",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pick the frontier model with the most decoder parameters within a budget (prefill
    latency, decode latency, peak memory) on each --device, with its figures, its size and
    the command that exports it."""
    given = {"max_latency_ms": max_latency_ms, "max_decode_latency_ms": max_decode_latency_ms,
             "max_memory_mb": max_memory_mb}  # fmt: skip
    with user_errors():
        check_range("search_id", search_id)
        budgets = parse_budgets(device or [], {k: v for k, v in given.items() if v})
    with user_errors(), Store.open(db, create=False) as store:
        report = build_report(store, search_or_latest(store, search_id))
        answer = pick_public(pick(report, budgets, by))
    if answer.export is not None and db is not None:
        answer = answer.model_copy(update={"export": f"{answer.export} --db {shlex.quote(db)}"})
    if as_json:
        typer.echo(answer.model_dump_json())
    else:
        render_pick(output_console(), answer)
    if answer.choice is None:
        raise typer.Exit(1)


def render_pick(console: Console, p: PickPublic) -> None:
    """The choice as a table (one row per device) and what to know about it."""
    budget = "; ".join(f"{b.device}: " + ", ".join(f"{OBJECTIVES[n].label} <= {v:g} "
                                                    f"{OBJECTIVES[n].unit}"
                                                    for n, v in b.caps.items())
                       for b in p.budgets)  # fmt: skip
    console.print(f"[bold]Search {p.search_id}[/], budget ({p.by}): {budget or 'none'}",
                  soft_wrap=True)  # fmt: skip
    if p.choice is None:
        console.print(
            f"[red]no model meets the budget[/]: {p.candidates} considered "
            f"({'the frontier' if len(p.devices) == 1 else 'measured on every device'})"
        )
        return
    c = p.choice
    console.print(
        f"[bold green]{c.arch_id}[/]: {c.n_layer} layers, d_model {c.d_model}, "
        f"{c.decoder_params:,} decoder parameters ({c.total_params:,} in all: "
        f"{size_text(c.weight_bytes)} of float32 weights, ONNX about "
        f"{size_text(c.onnx_bytes)}); {p.within} of {p.candidates} models meet the budget",
        soft_wrap=True,
    )
    cols = [Col("device")]
    cols += [Col(f"{OBJECTIVES[n].label} {OBJECTIVES[n].unit}", "right") for n in p.objectives]
    cols += [Col("figures", drop=1)]
    rows = []
    for label, row in c.devices.items():
        cells = [label]
        for name in p.objectives:
            f = row.objectives.get(name)
            text = "-" if f is None or f.value is None else f"{f.value:.2f}"
            if f is not None and f.p10 is not None and f.p90 is not None:
                text += f" ({f.p10:.1f}-{f.p90:.1f})"
            cells.append(text)
        cells.append(row.figures)
        rows.append(cells)
    console.print(fitted(console, cols, rows, title="its figures (median, p10-p90)"))
    for note in p.notes:
        console.print(f"[yellow]note[/]: {note}", soft_wrap=True)
    console.print(f"export it: [bold]{p.export}[/]", soft_wrap=True)
