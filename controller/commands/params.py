"""``controller params FILE``: the exact parameter breakdown of every architecture in FILE.

FILE is one config as a JSON object, a JSON list of configs, or a table in the benchmarks'
JSON-lines format (:mod:`lts.controller.tables`; rows carry ``id``, ``backbone`` and ``arch``).
Every architecture is reported; invalid ones are shown with their error and make the exit code 1
after all of them are printed. A file that cannot be read or parsed is a one-line error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lts.controller.commands._edge import user_errors
from lts.controller.tables import parse_row, read_table
from lts.shared.backbones import BackboneName
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError, LTSError
from lts.shared.params import ParamCounts, count_params

#: The counts reported, in order (``layer_norm`` is part of ``decoder``).
COUNT_NAMES: tuple[str, ...] = (
    "decoder",
    "attention",
    "feed_forward",
    "embedding",
    "softmax",
    "total",
)


@dataclass(frozen=True)
class Entry:
    """One architecture of the input: ``arch`` is None when invalid, and ``error`` says why."""

    id: str | int
    arch: ArchConfig | None
    error: str | None = None


def register(app: typer.Typer) -> None:
    """Add the ``params`` command to ``app``."""
    app.command("params")(params)


def params(
    file: Annotated[
        Path, typer.Argument(help="A config (JSON), a JSON list of configs, or a JSON-lines table.")
    ],
    backbone: Annotated[
        BackboneName | None,
        typer.Option(help="Backbone of the architectures that do not name one."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per architecture per line.")
    ] = False,
) -> None:
    """Print the parameter breakdown (decoder, attention, feed-forward, embedding, softmax,
    total) of every architecture in FILE."""
    with user_errors():
        entries = read_architectures(file, backbone=backbone)
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(_as_json(entry)))
    else:
        _print_table(entries, file)
    n_bad = sum(entry.arch is None for entry in entries)
    if n_bad:
        typer.echo(f"error: {n_bad} of {len(entries)} architectures are invalid", err=True)
        raise typer.Exit(1)


def read_architectures(path: Path, *, backbone: str | None = None) -> list[Entry]:
    """Every architecture in ``path`` (see the module docstring), invalid ones as errors.

    ``backbone`` is used where an architecture names none. Raises :class:`LTSError` when the
    file is empty, not UTF-8, or neither JSON nor JSON lines; :class:`OSError` when it cannot
    be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LTSError(f"{path}: not a UTF-8 text file") from exc
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise LTSError(f"{path}: no architectures (the file is empty)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if len(lines) == 1:
            raise LTSError(f"{path}: not valid JSON ({exc.msg}, column {exc.colno})") from exc
        rows = read_table(path)  # JSON lines; raises LTSError naming the bad line
        return [_table_entry(row.index, row.raw, backbone) for row in rows]
    if isinstance(data, dict):
        return [_entry(0, data, backbone)]
    if isinstance(data, list):
        return [_entry(i, item, backbone) for i, item in enumerate(data)]
    raise LTSError(
        f"{path}: expected a config object, a list of configs or JSON lines, "
        f"got {type(data).__name__}"
    )


def _entry(index: int, obj: Any, backbone: str | None) -> Entry:
    """A plain config, or a table row (an object with ``arch``) found in a JSON document."""
    if isinstance(obj, dict) and "arch" in obj:
        return _table_entry(index, obj, backbone)
    if not isinstance(obj, dict):
        return Entry(index, None, f"expected a JSON object, got {type(obj).__name__}")
    try:
        arch = ArchConfig.from_dict(obj, backbone=None if "backbone" in obj else backbone)
    except ConfigError as exc:
        return Entry(index, None, str(exc))
    return Entry(index, arch)


def _table_entry(index: int, raw: Any, backbone: str | None) -> Entry:
    if isinstance(raw, dict) and backbone is not None and raw.get("backbone") is None:
        raw = {**raw, "backbone": backbone}
    row = parse_row(index, raw)
    row_id = raw.get("id", index) if isinstance(raw, dict) else index
    return Entry(row_id, row.arch, row.error)


def _counts(counts: ParamCounts) -> dict[str, int]:
    return {name: getattr(counts, name) for name in COUNT_NAMES}


def _as_json(entry: Entry) -> dict[str, Any]:
    if entry.arch is None:
        return {"id": entry.id, "error": entry.error}
    return {
        "id": entry.id,
        "arch_id": entry.arch.arch_id,
        "params": _counts(count_params(entry.arch)),
    }


def _print_table(entries: list[Entry], path: Path) -> None:
    table = Table(title=f"Parameters of {len(entries)} architectures in {path.name}")
    table.add_column("id", no_wrap=True)
    table.add_column("arch_id", no_wrap=True)
    for name in COUNT_NAMES:
        table.add_column(name.replace("_", "-"), justify="right", no_wrap=True)
    for entry in entries:
        if entry.arch is None:
            table.add_row(Text(str(entry.id)), "invalid", style="red")
            continue
        counts = _counts(count_params(entry.arch))
        table.add_row(
            Text(str(entry.id)),
            entry.arch.arch_id,
            *(f"{counts[name]:,}" for name in COUNT_NAMES),
        )
    console = Console()
    needed = console.measure(table, options=console.options.update_width(10_000)).maximum
    if needed > console.width:
        # Exact counts matter more than fitting the terminal: never crop a number.
        console = Console(width=needed)
    console.print(table)
    for entry in entries:
        if entry.arch is None:
            console.print(Text(f"{entry.id}: {entry.error}", style="red"))
