"""``controller export``: a search's frontier on one device as config JSON, untrained PyTorch
model files, ONNX, or a CSV table."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lts.controller.commands._edge import check_range, user_errors
from lts.controller.commands.report import DbOption, JsonOption
from lts.controller.exports import manifest, parse_ids, select, write
from lts.controller.plots import safe_name
from lts.controller.search.config import MAX_SEED
from lts.controller.store import Store


class Format(StrEnum):
    json = "json"
    onnx = "onnx"
    pt = "pt"
    csv = "csv"


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command("export")(export)


def export(
    search_id: Annotated[int, typer.Argument(help="The search.", show_default=False)],
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            help="The device (agent or device name); may be left out when the search ran on one.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="json | onnx | pt | csv.", case_sensitive=False)
    ] = Format.json,
    ids: Annotated[
        str | None,
        typer.Option(
            "--ids",
            help="Comma-separated arch ids (frontier or baselines; default: the whole frontier).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder (default: ./lts-export/search-ID-DEVICE).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the untrained weights (pt, onnx).")
    ] = 0,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export the frontier's architectures (or --ids) and print the files written. pt and onnx
    hold untrained weights and need PyTorch (the agent extra)."""
    with user_errors():
        check_range("search_id", search_id)
        check_range("seed", seed, 0, MAX_SEED)
        with Store.open(db, create=False) as store:
            sel = select(store, search_id, device, parse_ids(ids))
            if out is None:
                out = Path("lts-export") / f"search-{search_id}-{safe_name(sel.device)}"
            paths = write(sel, fmt.value, out.expanduser(), seed=seed)
    if as_json:
        doc = {**manifest(sel), "format": fmt.value, "files": [str(p) for p in paths]}
        typer.echo(json.dumps(doc))
        return
    for path in paths:
        typer.echo(str(path))
