"""``controller proxy-eval``: how well each proxy ranks a table of trained models.

Reads a table in the project's JSON-lines format (:mod:`lts.controller.tables`), computes every
chosen proxy for every row and reports, per proxy, the Spearman rank correlation with ``valid_ppl``
(+1 = perfect), the common ratio for the top 10%, 20%, ..., 100% and the time spent
(:mod:`lts.controller.proxies.evaluate`). Rows that cannot be scored (invalid architecture, no
perplexity, a proxy that fails) are counted per proxy and listed with their reason on stderr; they
never vanish silently.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lts.controller.commands._edge import user_errors
from lts.controller.proxies import Proxy, get_proxy, list_proxies
from lts.controller.proxies.evaluate import (
    CR_LEVELS,
    ProxyEvaluation,
    evaluate_proxy,
    evaluation_dict,
)
from lts.controller.tables import TableRow, read_table
from lts.shared.errors import ConfigError

#: What ``--proxies`` means when omitted: every proxy that needs no model build (fast).
DEFAULT_SELECTION = "analytic"


def register(app: typer.Typer) -> None:
    """Add the ``proxy-eval`` command to ``app``."""
    app.command("proxy-eval")(proxy_eval)


def proxy_eval(
    table: Annotated[
        Path,
        typer.Option(
            "--table",
            help="Table of trained models (JSON lines: id, backbone, arch, valid_ppl).",
            dir_okay=False,
        ),
    ],
    proxies: Annotated[
        str,
        typer.Option(
            "--proxies",
            help="Comma-separated proxy names, 'analytic' (no model build: decoder_params, "
            "total_params) or 'all'.",
        ),
    ] = DEFAULT_SELECTION,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Use only the first N rows.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (failures go to stderr).")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Also draw proxy vs perplexity per proxy to this PNG.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Spearman correlation and common ratio of each proxy against a table's perplexities."""
    with user_errors():
        chosen = select_proxies(proxies)
        rows = read_table(table)
    if limit is not None:
        rows = rows[:limit]
    evaluations = _evaluate(rows, chosen, show_progress=True)
    if as_json:
        out = {
            "table": str(table),
            "rows": len(rows),
            "proxies": {ev.name: evaluation_dict(ev) for ev in evaluations},
        }
        typer.echo(json.dumps(out))
    else:
        _print_results(table, rows, evaluations)
    _report_failures(evaluations, Console(stderr=True))
    if plot is not None:
        with user_errors():
            draw_plot(evaluations, plot, title=table.name)
    if not rows or all(ev.failed == len(rows) for ev in evaluations):
        typer.echo(f"error: {table}: no row could be scored", err=True)
        raise typer.Exit(1)


def select_proxies(spec: str) -> list[Proxy]:
    """Proxies named by a ``--proxies`` value (see the option's help); ConfigError if unknown."""
    spec = spec.strip()
    if spec == "all":
        return list_proxies()
    if spec == "analytic":
        return [p for p in list_proxies() if not p.needs_torch]
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ConfigError("proxies", "no proxy named; give names separated by commas")
    return [get_proxy(name) for name in dict.fromkeys(names)]


def _evaluate(
    rows: list[TableRow], proxies: list[Proxy], *, show_progress: bool
) -> list[ProxyEvaluation]:
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (show_progress and console.is_terminal),
    )
    results = []
    with progress:
        for proxy in proxies:
            task = progress.add_task(proxy.name, total=len(rows))
            results.append(evaluate_proxy(proxy, rows, on_row=partial(progress.advance, task)))
    return results


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if x != x else f"{x:.{digits}f}"  # NaN != NaN


def _print_results(table: Path, rows: list[TableRow], evaluations: list[ProxyEvaluation]) -> None:
    out = Table(
        title=f"{table.name}: {len(rows)} rows",
        caption="SRC: Spearman correlation with -valid_ppl (1 = perfect ranking); "
        "CR k%: common ratio of the top k%",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    out.add_column("proxy")
    out.add_column("SRC", justify="right")
    for k in CR_LEVELS:
        out.add_column(f"{k}%", justify="right")
    out.add_column("seconds", justify="right")
    out.add_column("failed", justify="right")
    for ev in evaluations:
        ratios = ev.common_ratio
        out.add_row(
            ev.name,
            _fmt(ev.spearman),
            *(_fmt(ratios[k], 2) for k in CR_LEVELS),
            f"{ev.seconds:.3f}",
            str(ev.failed),
        )
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)  # piped output: do not fold the table
    console.print(out)


def _report_failures(evaluations: list[ProxyEvaluation], console: Console) -> None:
    """One line per (reason, proxies) group on stderr: count and the first row ids."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for ev in evaluations:
        for row_id, reason in ev.failures:
            groups.setdefault(reason, []).append((ev.name, row_id))
    for reason, hits in groups.items():
        ids = list(dict.fromkeys(row_id for _, row_id in hits))
        names = ", ".join(Counter(name for name, _ in hits))
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        console.print(
            f"warning: {len(ids)} row(s) not scored by {names}: {reason} (rows {shown})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def draw_plot(evaluations: list[ProxyEvaluation], path: Path, *, title: str) -> None:
    """Proxy score (x) against validation perplexity (y), one panel per proxy, as in the
    paper's Figure 3; writes a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(evaluations)
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax, ev in zip(axes.flat, evaluations, strict=False):
        pairs = [(s, p) for s, p in zip(ev.scores, ev.valid_ppl, strict=True) if s is not None]
        xs = [s for s, _ in pairs]
        ys = [p for _, p in pairs]
        ax.scatter(xs, ys, s=10, alpha=0.7)
        if xs and min(xs) > 0 and max(xs) / min(xs) > 100:
            ax.set_xscale("log")
        ax.set_title(f"{ev.name} (SRC {_fmt(ev.spearman)}, n={len(xs)})", fontsize=10)
        ax.set_xlabel(ev.name + ("" if ev.higher_is_better else " (lower is better)"))
        ax.set_ylabel("validation perplexity")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
