"""The checks a :class:`~lts.shared.space.SearchSpace` runs when it is made: the work its value
sets ask of every search (:data:`MAX_SPACE_WORK`), and the fixed fields of the configs it
generates (type-checked, defaults resolved)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lts.shared.backbones import get_backbone
from lts.shared.config import MAX_LAYERS
from lts.shared.errors import ConfigError
from lts.shared.space_values import MAX_WIDTH, is_int

if TYPE_CHECKING:
    from lts.shared.space import SearchSpace

#: The most work a space may ask of the checks and reference points that every search and
#: every ``controller space`` runs: for each ``d_model`` value, its per-layer values (n_head,
#: d_inner), its layer counts (the size) and its embedding choices (d_embed x div_val, the
#: smallest and largest architectures). Each gene may have 65,536 values; this bounds their
#: product, without which a 400-byte space could take minutes and gigabytes.
MAX_SPACE_WORK = 1 << 22


def space_work(space: SearchSpace) -> int:
    """The work :data:`MAX_SPACE_WORK` bounds, from the sizes of the value sets alone."""
    per_model = len(space.n_head) + len(space.d_inner) + len(space.n_layer)
    return len(space.d_model) * (per_model + len(space.d_embed) * len(space.div_val))


def check_work(space: SearchSpace) -> None:
    """Raise :class:`ConfigError` (field ``space``) when ``space_work(space)`` is over
    :data:`MAX_SPACE_WORK`."""
    work = space_work(space)
    if work > MAX_SPACE_WORK:
        raise ConfigError(
            "space",
            f"too large to check: {len(space.d_model):,} d_model values x ({len(space.n_head)} "
            f"n_head + {len(space.d_inner):,} d_inner + {len(space.n_layer)} n_layer + "
            f"{len(space.d_embed)} d_embed x {len(space.div_val)} div_val values) = {work:,}; "
            f"at most {MAX_SPACE_WORK:,} (use a coarser step for d_model or d_inner)",
        )


def check_fixed(space: SearchSpace) -> None:
    """Type-check and resolve the fixed fields of generated configs, in place (``mem_len`` None:
    the backbone's default; ``tie_projs`` None: false then true per tail cluster). Raises
    :class:`ConfigError` naming the field."""
    for name in ("n_token", "tgt_len"):
        if not is_int(getattr(space, name)) or not 1 <= getattr(space, name) <= MAX_WIDTH:
            raise ConfigError(
                name, f"must be an integer from 1 to {MAX_WIDTH}, got {getattr(space, name)!r}"
            )
    if not isinstance(space.homogeneous, bool):
        raise ConfigError("homogeneous", f"must be a boolean, got {space.homogeneous!r}")
    if not isinstance(space.tie_weight, bool):
        raise ConfigError("tie_weight", f"must be a boolean, got {space.tie_weight!r}")
    cutoffs = space.cutoffs
    if not isinstance(cutoffs, list | tuple) or not all(is_int(c) for c in cutoffs):
        raise ConfigError("cutoffs", f"must be a list of integers, got {cutoffs!r}")
    if len(cutoffs) > MAX_LAYERS:
        raise ConfigError("cutoffs", f"at most {MAX_LAYERS} cluster boundaries")
    object.__setattr__(space, "cutoffs", tuple(cutoffs))
    backbone = get_backbone(space.backbone)
    mem_len = backbone.default_mem_len if space.mem_len is None else space.mem_len
    if not is_int(mem_len) or not 0 <= mem_len <= MAX_WIDTH:
        raise ConfigError("mem_len", f"must be an integer from 0 to {MAX_WIDTH}, got {mem_len!r}")
    backbone.check_mem_len(mem_len)
    object.__setattr__(space, "mem_len", mem_len)
    n_clusters = len(cutoffs) + 1
    tie = space.tie_projs
    if tie is None:
        tie = (False,) + (True,) * (n_clusters - 1)
    if not isinstance(tie, list | tuple) or not all(isinstance(t, bool) for t in tie):
        raise ConfigError("tie_projs", f"must be a list of booleans, got {tie!r}")
    if len(tie) != n_clusters:
        raise ConfigError(
            "tie_projs", f"has {len(tie)} flags; needs one per cluster ({n_clusters})"
        )
    object.__setattr__(space, "tie_projs", tuple(tie))
