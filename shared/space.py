"""The search space of one backbone: value sets, constraints, reference points and size.

A :class:`SearchSpace` is immutable. Its genes are ``n_layer``, ``d_model``, ``d_embed`` and
``div_val`` (one value per architecture) and ``n_head`` and ``d_inner`` (one value per layer, or
one shared by all layers when ``homogeneous``). Two rules tie the per-layer genes to ``d_model``:

* a layer's ``n_head`` must divide ``d_model`` (``d_head`` is always the default
  ``d_model // n_head``);
* a layer's ``d_inner`` must be at least ``d_inner_min_factor * d_model`` (default 2.0; the
  paper's code used 1.7).

Every other field of a generated :class:`~lts.shared.config.ArchConfig` is fixed by the space
(``n_token``, ``cutoffs``, ``tgt_len``, ``mem_len``, ``tie_weight``, ``tie_projs``).
:meth:`SearchSpace.size` is the exact number of distinct architectures. The checks a space
runs when it is made (its work bound, its fixed fields) are in :mod:`lts.shared.space_checks`,
the gene value sets in :mod:`lts.shared.space_values`; the search's operators (sampling,
mutation, crossover) are in :mod:`lts.controller.search.operators`.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from lts.shared.backbones import backbone_names, get_backbone
from lts.shared.config import DEFAULT_CUTOFFS, GPT2_VOCAB, MAX_LAYERS, ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.params import count_params
from lts.shared.space_checks import check_fixed, check_work
from lts.shared.space_values import encode_values, parse_values, value_set

#: Genes with one value per architecture, then the per-layer genes.
SCALAR_GENES: tuple[str, ...] = ("n_layer", "d_model", "d_embed", "div_val")
LAYER_GENES: tuple[str, ...] = ("n_head", "d_inner")
GENES: tuple[str, ...] = SCALAR_GENES + LAYER_GENES

@dataclass(frozen=True)
class SearchSpace:
    """The architectures of one backbone that the search may propose (immutable, hashable).

    Gene value sets are stored sorted and without duplicates; the defaults are the paper's
    heterogeneous space. ``mem_len`` None means the backbone's default (its declaration's
    ``default_mem_len``: 0 for GPT-2, 192 for Transformer-XL);
    ``tie_projs`` None means ``(False, True, ...)``, one flag per softmax cluster. Invalid
    values, or a value that no architecture could use (a ``d_model`` that no ``n_head``
    divides, or with no ``d_inner`` above its bound), raise :class:`ConfigError` naming the
    field.
    """

    backbone: str
    n_layer: tuple[int, ...] = tuple(range(2, 17))
    d_model: tuple[int, ...] = tuple(range(128, 1025, 64))
    d_embed: tuple[int, ...] = (128, 256, 512)
    div_val: tuple[int, ...] = (1, 2, 4)
    n_head: tuple[int, ...] = (2, 4, 8)
    d_inner: tuple[int, ...] = tuple(range(256, 4097, 64))
    d_inner_min_factor: float = 2.0
    homogeneous: bool = False
    n_token: int = GPT2_VOCAB
    cutoffs: tuple[int, ...] = DEFAULT_CUTOFFS
    tgt_len: int = 192
    mem_len: int | None = None
    tie_weight: bool = True
    tie_projs: tuple[bool, ...] | None = None
    # Per d_model: the n_head and d_inner values a layer may take (derived, not compared).
    _heads: dict[int, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    _inner: dict[int, tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        get_backbone(self.backbone)  # ConfigError naming the choices when not registered
        for name in GENES:
            object.__setattr__(self, name, value_set(name, getattr(self, name)))
        if self.n_layer[-1] > MAX_LAYERS:
            raise ConfigError("n_layer", f"at most {MAX_LAYERS} layers, got {self.n_layer[-1]}")
        check_work(self)
        check_fixed(self)
        factor = self.d_inner_min_factor
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise ConfigError("d_inner_min_factor", f"must be a number, got {factor!r}")
        if not math.isfinite(factor) or factor < 0:
            raise ConfigError("d_inner_min_factor", f"must be finite and >= 0, got {factor!r}")
        heads: dict[int, tuple[int, ...]] = {}
        inner: dict[int, tuple[int, ...]] = {}
        for d in self.d_model:
            heads[d] = tuple(h for h in self.n_head if d % h == 0)
            if not heads[d]:
                raise ConfigError(
                    "n_head", f"no value in {list(self.n_head)} divides d_model = {d}"
                )
            bound = self.d_inner_bound(d)
            inner[d] = tuple(x for x in self.d_inner if x >= bound)
            if not inner[d]:
                raise ConfigError(
                    "d_inner",
                    f"no value reaches d_inner_min_factor x d_model = {bound} for d_model = {d}"
                    f" (largest d_inner: {self.d_inner[-1]})",
                )
        object.__setattr__(self, "_heads", heads)
        object.__setattr__(self, "_inner", inner)
        n_tail = len(self.cutoffs)
        for d_embed in self.d_embed:
            for div_val in self.div_val:
                if div_val > 1 and d_embed // div_val**n_tail < 1:
                    raise ConfigError(
                        "div_val",
                        f"{div_val} leaves the last cluster of d_embed = {d_embed} no width "
                        f"(d_embed // div_val^{n_tail} = 0)",
                    )
        d = self.d_model[0]
        self.make_config(self.n_layer[0], d, (heads[d][0],), (inner[d][0],), self.d_embed[0], 1)

    # ------------------------------------------------------------------------- structure
    def d_inner_bound(self, d_model: int) -> int:
        """Smallest d_inner a layer may have at ``d_model``: ``ceil(factor * d_model)``.

        The factor is read as the decimal it is written as (1.7 means 17/10), so the bound is
        exact and free of floating-point rounding.
        """
        return math.ceil(Fraction(str(self.d_inner_min_factor)) * d_model)

    def heads_for(self, d_model: int) -> tuple[int, ...]:
        """The n_head values a layer may take at ``d_model`` (those that divide it)."""
        return self._heads[d_model]

    def d_inner_for(self, d_model: int) -> tuple[int, ...]:
        """The d_inner values a layer may take at ``d_model`` (those at or above the bound)."""
        return self._inner[d_model]

    def size(self) -> int:
        """Exact number of distinct architectures in the space (an int, however large).

        Genes map one-to-one onto configs, so this is the number of gene combinations:
        ``|d_embed| * |div_val| * sum over n_layer L and d_model d of k(d)**L`` with
        ``k(d) = |n_head dividing d| * |d_inner >= bound(d)|`` (``k(d)`` once when homogeneous).
        """
        total = 0
        for d in self.d_model:
            k = len(self._heads[d]) * len(self._inner[d])
            if self.homogeneous:
                total += k * len(self.n_layer)
                continue
            power, at = 1, 0
            for n in self.n_layer:  # ascending: k**n from the power before it
                power *= k ** (n - at)
                at = n
                total += power
        return total * len(self.d_embed) * len(self.div_val)

    def violation(self, cfg: ArchConfig) -> str | None:
        """Why ``cfg`` is not in the space, or None when it is."""
        if cfg.backbone != self.backbone:
            return f"backbone {cfg.backbone!r} is not the space's {self.backbone!r}"
        for name in SCALAR_GENES:
            value = getattr(cfg, name)
            if value not in getattr(self, name):
                return f"{name} = {value} is not one of the space's values"
        if cfg.d_head is not None:
            return "d_head must be the default d_model // n_head"
        heads, inner = self._heads[cfg.d_model], self._inner[cfg.d_model]
        for i, (h, x) in enumerate(zip(cfg.n_head, cfg.d_inner, strict=True)):
            if h not in heads:
                return f"n_head[{i}] = {h} is not one of {list(heads)} (for d_model {cfg.d_model})"
            if x not in inner:
                bound = self.d_inner_bound(cfg.d_model)
                return f"d_inner[{i}] = {x} is not a space value >= {bound}"
        if self.homogeneous and (len(set(cfg.n_head)) > 1 or len(set(cfg.d_inner)) > 1):
            return "the space is homogeneous: every layer must share n_head and d_inner"
        for name in ("n_token", "cutoffs", "tgt_len", "mem_len", "tie_weight", "tie_projs"):
            if getattr(cfg, name) != getattr(self, name):
                return f"{name} = {getattr(cfg, name)!r} differs from the space's"
        return None

    def contains(self, cfg: ArchConfig) -> bool:
        """Whether ``cfg`` is one of the space's architectures."""
        return self.violation(cfg) is None

    # ------------------------------------------------------------------- reference points
    def smallest(self) -> ArchConfig:
        """The architecture with the fewest decoder parameters, with the fewest heads in every
        layer (heads do not change the count) and, among equal decoder counts, the fewest
        parameters in total."""
        return self._extreme(largest=False)

    def largest(self) -> ArchConfig:
        """The architecture with the most decoder parameters, with the most heads in every
        layer (heads do not change the count) and, among equal decoder counts, the most
        parameters in total."""
        return self._extreme(largest=True)

    def middle(self) -> ArchConfig:
        """A middle architecture: every gene at the median of its value set (the lower median
        for an even count; n_head and d_inner among the values allowed at that d_model), the
        same in every layer. Its decoder parameters lie between :meth:`smallest`'s and
        :meth:`largest`'s."""
        d_model = _median(self.d_model)
        n_layer = _median(self.n_layer)
        return self.make_config(
            n_layer,
            d_model,
            (_median(self._heads[d_model]),),
            (_median(self._inner[d_model]),),
            _median(self.d_embed),
            _median(self.div_val),
        )

    # -------------------------------------------------------------------------- encoding
    def to_dict(self) -> dict[str, Any]:
        """The space as plain JSON/TOML types, as :func:`load_space` reads it back.

        Value sets that form an arithmetic progression of three or more values are written as
        ``{"min", "max", "step"}``, others as lists.
        """
        out: dict[str, Any] = {"backbone": self.backbone, "homogeneous": self.homogeneous}
        for name in GENES:
            out[name] = encode_values(getattr(self, name))
        out["d_inner_min_factor"] = self.d_inner_min_factor
        for f in fields(self):
            if f.init and f.name not in out:
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, backbone: str | None = None) -> SearchSpace:
        """Parse the format that :func:`load_space` documents. ``backbone`` supplies the
        backbone when ``data`` has none (and must agree when it has one)."""
        if not isinstance(data, dict):
            raise ConfigError("space", f"expected a table of settings, got {type(data).__name__}")
        data = dict(data)
        if backbone is not None:
            if data.get("backbone", backbone) != backbone:
                raise ConfigError("backbone", f"{data['backbone']!r} conflicts with {backbone!r}")
            data["backbone"] = backbone
        if "backbone" not in data:
            raise ConfigError("backbone", f"is required; allowed: {', '.join(backbone_names())}")
        known = [f.name for f in fields(cls) if f.init]
        for key in data:
            if key not in known:
                raise ConfigError(key, f"unknown setting; allowed: {', '.join(known)}")
        for name in GENES:
            if name in data:
                data[name] = parse_values(name, data[name])
        for name in ("cutoffs", "tie_projs"):
            if isinstance(data.get(name), list):
                data[name] = tuple(data[name])
        return cls(**data)

    # ---------------------------------------------------------------------------- configs
    def make_config(
        self,
        n_layer: int,
        d_model: int,
        n_head: tuple[int, ...],
        d_inner: tuple[int, ...],
        d_embed: int,
        div_val: int,
    ) -> ArchConfig:
        """A config with the space's fixed fields; one-element layer genes are broadcast."""
        if len(n_head) == 1 and n_layer > 1:
            n_head = n_head * n_layer
        if len(d_inner) == 1 and n_layer > 1:
            d_inner = d_inner * n_layer
        return ArchConfig(
            backbone=self.backbone,
            n_layer=n_layer,
            d_model=d_model,
            n_head=n_head,
            d_inner=d_inner,
            d_embed=d_embed,
            div_val=div_val,
            n_token=self.n_token,
            cutoffs=self.cutoffs,
            tie_weight=self.tie_weight,
            tie_projs=self.tie_projs,  # type: ignore[arg-type]  # resolved in __post_init__
            tgt_len=self.tgt_len,
            mem_len=self.mem_len,  # type: ignore[arg-type]  # resolved in __post_init__
        )

    def require(self, cfg: ArchConfig, name: str) -> None:
        """Raise :class:`ConfigError` naming ``name`` unless ``cfg`` is one of the space's
        architectures."""
        if not isinstance(cfg, ArchConfig):
            raise ConfigError(name, f"expected an ArchConfig, got {type(cfg).__name__}")
        reason = self.violation(cfg)
        if reason is not None:
            raise ConfigError(name, f"not in the search space: {reason}")

    def _extreme(self, *, largest: bool) -> ArchConfig:
        # Decoder parameters grow with n_layer and d_inner and do not depend on n_head (the
        # attention width is d_model), d_embed or div_val; those pick the total among ties.
        n_layer = self.n_layer[-1 if largest else 0]
        end = -1 if largest else 0
        best: tuple[tuple[int, int], ArchConfig] | None = None
        for d in self.d_model:
            for d_embed in self.d_embed:
                for div_val in self.div_val:
                    cfg = self.make_config(
                        n_layer,
                        d,
                        (self._heads[d][end],),
                        (self._inner[d][end],),
                        d_embed,
                        div_val,
                    )
                    counts = count_params(cfg)
                    key = (counts.decoder, counts.total)
                    if largest:
                        key = (-key[0], -key[1])
                    if best is None or key < best[0]:
                        best = (key, cfg)
        assert best is not None  # value sets are never empty
        return best[1]


# ------------------------------------------------------------------------------ factories
def default_space(backbone: str, homogeneous: bool = False) -> SearchSpace:
    """The paper's space for ``backbone`` (heterogeneous unless ``homogeneous``)."""
    return SearchSpace(backbone=backbone, homogeneous=homogeneous)


def load_space(path: str | Path, *, backbone: str | None = None) -> SearchSpace:
    """Read a space from a TOML (``.toml``) or JSON (any other suffix) file.

    The file is one table (object) of settings; every key is optional except ``backbone``
    (which the ``backbone`` argument may supply), and omitted keys take the paper's defaults::

        backbone = "gpt2"                          # a registered backbone: "gpt2" | "transxl"
        homogeneous = false                        # all layers share n_head and d_inner
        n_layer = { min = 2, max = 16, step = 1 }  # a gene: a {min, max, step} range ...
        d_model = { min = 128, max = 1024, step = 64 }
        d_embed = [128, 256, 512]                  # ... or a list of values, or one integer
        div_val = [1, 2, 4]
        n_head = [2, 4, 8]                         # per layer; must divide d_model
        d_inner = { min = 256, max = 4096, step = 64 }   # per layer
        d_inner_min_factor = 2.0                   # per layer d_inner >= factor * d_model
        n_token = 50257                            # fixed fields of every generated config
        cutoffs = [19997, 39997]
        tgt_len = 192
        mem_len = 192                              # the backbone's default (transxl 192; gpt2 0)
        tie_weight = true
        tie_projs = [false, true, true]            # default: false then true per tail cluster

    ``step`` defaults to 1; ranges include ``max`` when the steps reach it. Unknown keys,
    wrong types and invalid values raise :class:`ConfigError` naming the key (``d_model.step``
    for a part of a range); a file that does not parse raises it with field ``space``. A file
    that cannot be read raises :class:`OSError`.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise ConfigError("space", f"{path}: not valid {kind} ({exc})") from exc
    return SearchSpace.from_dict(data, backbone=backbone)


# -------------------------------------------------------------------------------- helpers
def _median(values: tuple[int, ...]) -> int:
    return values[(len(values) - 1) // 2]
