"""``controller plot``: a search's plots per device (PNG slices, hypervolume, 3-D HTML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lts.controller.commands._edge import check_range, user_errors
from lts.controller.commands.report import DbOption, JsonOption
from lts.controller.store import Store


def register(app: typer.Typer) -> None:
    """Add ``plot`` to ``app``."""
    app.command("plot")(plot)


def plot(
    search_id: Annotated[int, typer.Argument(help="The search.", show_default=False)],
    device: Annotated[
        str | None,
        typer.Option(
            "--device", help="Only this device (agent or device name).", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder (default: ./lts-plots/search-ID).", show_default=False
        ),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the search's plots and print their paths: per device, decoder parameters vs
    latency and vs memory (candidates, frontier, baselines), hypervolume per iteration
    (PNG), and the 3-D frontier (interactive HTML)."""
    from lts.controller.plots import write_plots  # matplotlib only when plotting

    out_dir = out if out is not None else Path("lts-plots") / f"search-{search_id}"
    with user_errors():
        check_range("search_id", search_id)
        with Store.open(db, create=False) as store:
            paths = write_plots(store, search_id, out_dir.expanduser(), device)
    if as_json:
        typer.echo(json.dumps({"search_id": search_id, "files": [str(p) for p in paths]}))
        return
    if not paths:
        typer.echo(f"search {search_id}: no device has been reached yet; nothing to plot",
                   err=True)  # fmt: skip
    for path in paths:
        typer.echo(str(path))
