"""Rich tables that fit the terminal: a column that can go is dropped, never cut.

Rich shrinks a table that is wider than the console by cutting its cells ("st…", "dev…"): at
80 columns a frontier table of eleven columns loses its numbers. :func:`fitted` builds a table
from :class:`Col` declarations instead: while the table's natural width is over the console's,
the optional column of highest ``drop`` rank goes (a p10-p90 span, a size, a d_model), and the
columns that stay fold a value over two lines rather than cut it. The caption names what was
left out, so a narrow terminal shows fewer facts, each whole; ``--json`` has them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table


@dataclass(frozen=True)
class Col:
    """A column: ``name`` (its heading), ``drop``: 0 for a column that always stays, else its
    rank among those that may go (the highest goes first). Cells fold, never cut."""

    name: str
    justify: Literal["left", "right"] = "left"
    drop: int = 0


def fitted(
    console: Console, cols: Sequence[Col], rows: Sequence[Sequence[str]], **table: Any
) -> Table:
    """A :class:`Table` of ``rows`` (one cell per column of ``cols``) as wide as ``console``
    allows, dropping optional columns as needed (see the module doc). ``table``: Table's
    options (``title``, ``caption``)."""
    keep = list(range(len(cols)))
    dropped: list[str] = []
    while True:
        out = _table(cols, rows, keep, dropped, **table)
        natural = console.options.update_width(10_000)  # unbounded: what the table wants
        width = Measurement.get(console, natural, out).maximum
        optional = [i for i in keep if cols[i].drop]
        if width <= console.width or not optional:
            return out
        gone = max(optional, key=lambda i: (cols[i].drop, i))
        keep.remove(gone)
        dropped.append(cols[gone].name)


def _table(
    cols: Sequence[Col], rows: Sequence[Sequence[str]], keep: list[int], dropped: list[str],
    **options: Any,
) -> Table:  # fmt: skip
    caption = options.pop("caption", None)
    if dropped:
        left = f"left out to fit {', '.join(dropped)} (a wider terminal or --json shows them)"
        caption = f"{caption}\n{left}" if caption else left
    out = Table(caption=caption, **options)
    for i in keep:
        c = cols[i]
        out.add_column(c.name, justify=c.justify, overflow="fold")
    for row in rows:
        out.add_row(*(row[i] for i in keep))
    return out
