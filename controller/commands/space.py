"""``controller space``: a search space's genes and value sets, its exact size and samples."""

from __future__ import annotations

import dataclasses
import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lts.controller.commands._edge import user_errors
from lts.controller.search.operators import sample
from lts.shared.backbones import BackboneName
from lts.shared.config import ArchConfig
from lts.shared.params import decoder_params
from lts.shared.space import SCALAR_GENES, SearchSpace, default_space, load_space


def register(app: typer.Typer) -> None:
    """Add the ``space`` command to ``app``."""
    app.command("space")(space)


def space(
    backbone: Annotated[
        BackboneName | None,
        typer.Option(help="Backbone of the space (default: the --space file's, else gpt2)."),
    ] = None,
    homogeneous: Annotated[
        bool, typer.Option("--homogeneous", help="All layers share n_head and d_inner.")
    ] = False,
    space_file: Annotated[
        Path | None,
        typer.Option(
            "--space", help="A space file (TOML or JSON; see lts.shared.space.load_space)."
        ),
    ] = None,
    samples: Annotated[int, typer.Option(min=0, help="How many random samples to show.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the sampling generator.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Print a search space: its genes and value sets, its exact size and a few samples."""
    with user_errors():
        if space_file is None:
            sp = default_space(backbone or "gpt2", homogeneous=homogeneous)
        else:
            sp = load_space(space_file, backbone=backbone)
            if homogeneous and not sp.homogeneous:
                sp = dataclasses.replace(sp, homogeneous=True)
        rng = np.random.default_rng(seed)
        drawn = [sample(sp, rng) for _ in range(samples)]
    size = sp.size()
    if as_json:
        typer.echo(json.dumps(_as_json(sp, size, drawn)))
        return
    console = Console()
    console.print(_genes_table(sp))
    console.print(_fixed_line(sp))
    exact = f"{size:,} architectures " if size.bit_length() < _EXACT_BITS else ""
    console.print(f"[bold]Size:[/bold] {exact}(~ 10^{math.log10(size):.2f})")
    if drawn:
        console.print(_samples_table(drawn, seed))


#: Sizes up to this many bits are written out (Python writes integers of at most 4,300
#: digits; a space of 1,024 layers can be far larger: only its order of magnitude is shown).
_EXACT_BITS = 10_000


def _as_json(sp: SearchSpace, size: int, drawn: list[ArchConfig]) -> dict[str, Any]:
    return {
        "space": sp.to_dict(),
        "size": size if size.bit_length() < _EXACT_BITS else None,
        "size_log10": round(math.log10(size), 4),
        "samples": [
            {"arch_id": c.arch_id, "decoder_params": decoder_params(c), "config": c.to_dict()}
            for c in drawn
        ],
    }


def _describe(values: tuple[int, ...]) -> str:
    if len(values) >= 3:
        step = values[1] - values[0]
        if all(b - a == step for a, b in pairwise(values)):
            return f"{values[0]}..{values[-1]} step {step}"
    return ", ".join(str(v) for v in values)


def _genes_table(sp: SearchSpace) -> Table:
    kind = "homogeneous" if sp.homogeneous else "heterogeneous"
    table = Table(title=f"Search space: {sp.backbone} ({kind})")
    table.add_column("gene")
    table.add_column("values")
    table.add_column("count", justify="right")
    table.add_column("scope")
    for name in SCALAR_GENES:
        values = getattr(sp, name)
        table.add_row(name, _describe(values), str(len(values)), "per architecture")
    layer_scope = "shared by all layers" if sp.homogeneous else "per layer"
    table.add_row(
        "n_head", _describe(sp.n_head), str(len(sp.n_head)), f"{layer_scope}; divides d_model"
    )
    table.add_row(
        "d_inner",
        _describe(sp.d_inner),
        str(len(sp.d_inner)),
        f"{layer_scope}; >= {sp.d_inner_min_factor:g} x d_model",
    )
    return table


def _fixed_line(sp: SearchSpace) -> str:
    fixed = ", ".join(
        f"{name} {json.dumps(getattr(sp, name))}"
        for name in ("n_token", "cutoffs", "tgt_len", "mem_len", "tie_weight", "tie_projs")
    )
    return f"[bold]Fixed:[/bold] {escape(fixed)}"


def _samples_table(drawn: list[ArchConfig], seed: int) -> Table:
    table = Table(title=f"{len(drawn)} samples (seed {seed})")
    table.add_column("#", justify="right")
    table.add_column("arch_id", no_wrap=True)
    for name in ("layers", "d_model", "d_embed", "div_val", "decoder params"):
        table.add_column(name, justify="right", no_wrap=True)
    for i, c in enumerate(drawn):
        table.add_row(
            str(i),
            c.arch_id,
            str(c.n_layer),
            str(c.d_model),
            str(c.d_embed),
            str(c.div_val),
            f"{decoder_params(c):,}",
        )
    return table
