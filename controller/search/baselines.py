"""Layer-scaled baselines: homogeneous models that differ only in their number of layers.

The paper compares its frontier with the hand-designed backbone scaled in depth. ``paper``
sizes are those of its baselines (the published baseline configs), declared with each backbone
(``paper_baseline`` in :mod:`lts.shared.backbones.gpt2` and :mod:`lts.shared.backbones.transxl`); a
backbone without them has only ``space`` sizes.

``space`` sizes take the genes of the search space's middle architecture
(:meth:`lts.shared.space.SearchSpace.middle`), for small spaces (demos, tests) where the paper's
sizes would dwarf every candidate. Either way the fields the space fixes (vocabulary, cutoffs,
sequence and memory length, tying) are the space's, so that baselines and candidates differ
only in their decoder.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lts.shared.backbones import get_backbone
from lts.shared.config import MAX_LAYERS, ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.space import SearchSpace

BASELINE_SIZES: tuple[str, ...] = ("paper", "space")
#: The paper's depths: 1 to 16 layers.
PAPER_LAYERS: tuple[int, ...] = tuple(range(1, 17))


def layer_scaled_baselines(
    space: SearchSpace, layers: Iterable[int] | None = None, sizes: str = "paper"
) -> list[ArchConfig]:
    """One homogeneous baseline per depth in ``layers`` (default: 1..16 for ``paper`` sizes,
    the space's n_layer values for ``space`` sizes), in increasing depth."""
    if sizes == "paper":
        paper = get_backbone(space.backbone).paper_baseline
        if paper is None:
            raise ConfigError("baseline_sizes", f"{space.backbone!r} has no paper baseline")
        genes: dict[str, Any] = dict(paper)
        depths = sorted(set(layers or PAPER_LAYERS))
    elif sizes == "space":
        mid = space.middle()
        genes = {
            "d_model": mid.d_model,
            "n_head": mid.n_head[0],
            "d_inner": mid.d_inner[0],
            "d_embed": mid.d_embed,
            "div_val": mid.div_val,
        }
        depths = sorted(set(layers or space.n_layer))
    else:
        raise ConfigError("baseline_sizes", f"must be one of {', '.join(BASELINE_SIZES)}")
    if not depths or depths[0] < 1:
        raise ConfigError("baseline_layers", "needs positive layer counts")
    fixed = {
        "backbone": space.backbone,
        "n_token": space.n_token,
        "cutoffs": list(space.cutoffs),
        "tgt_len": space.tgt_len,
        "mem_len": space.mem_len,
        "tie_weight": space.tie_weight,
        "tie_projs": list(space.tie_projs or ()),
    }
    return [ArchConfig.from_dict({**fixed, **genes, "n_layer": n}) for n in depths]


def parse_layers(text: str) -> list[int]:
    """``"1-16"``, ``"2,4,8"`` or ``"1-4,8"`` as a sorted list of layer counts."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            lo, hi = (int(x) for x in part.split("-", 1)) if "-" in part else (int(part),) * 2
        except ValueError:
            raise ConfigError("baseline_layers", f"not a layer list: {text[:100]!r}") from None
        if lo < 1 or hi > MAX_LAYERS:  # checked before the range is expanded
            raise ConfigError(
                "baseline_layers", f"layer counts go from 1 to {MAX_LAYERS}, got {part[:100]!r}"
            )
        out.update(range(lo, hi + 1))
    if not out:
        raise ConfigError("baseline_layers", f"needs positive layer counts, got {text[:100]!r}")
    return sorted(out)
