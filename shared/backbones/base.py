"""The backbone declaration (:class:`Backbone`) and the registry (:func:`get_backbone`).

Everything that depends on the backbone (parameter accounting, config and space rules, the
memory estimate, the cost features, the measurement's checks, the baselines, the model builder)
asks :func:`get_backbone` for the declaration and reads the part it needs; nothing compares
backbone names. An unregistered name raises :class:`~lts.shared.errors.ConfigError` with field
``backbone`` and the choices. No torch here: a declaration names its model by import path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lts.shared.errors import ConfigError

if TYPE_CHECKING:
    from lts.shared.config import ArchConfig
    from lts.shared.models.base import LanguageModel


@dataclass(frozen=True, kw_only=True, eq=False)
class Backbone:
    """One backbone, declared once (immutable; every part is a pure function of the config).

    ``name`` is the configs' ``backbone`` value; ``title`` names it in messages ("GPT-2").

    Parameter formulas, in elements, over all blocks (:func:`lts.shared.params.count_params`
    composes them and adds the adaptive embedding and softmax, which every backbone shares):
    ``attention_params``, ``feed_forward_params`` and ``layer_norm_params`` (together the
    decoder, the tables' *nonembedding*).

    Positions and memory: ``learned_positions``: a learned table of ``tgt_len x d_model``
    positions (counted in the embedding; sequences are at most ``tgt_len`` long), else the
    positions have no parameters and no length limit. ``segment_memory``: the model keeps the
    last ``mem_len`` inputs of every layer across decode steps; without it every config's
    ``mem_len`` is 0. ``default_mem_len``: the paper space's ``mem_len`` (0 without memory).

    The decode step that the agent measures (one position after a context of ``seq_len - 1``):
    ``decode_keys(cfg, seq_len)``: the positions it attends to (those held and the new one);
    ``cache_width(cfg)``: the elements its cache holds per position and sequence.

    Optional parts (None: the backbone has none, and what needs one raises ConfigError):
    ``model``: ``"module:Class"`` of its PyTorch model, a
    :class:`lts.shared.models.base.LanguageModel` (imported on first use, with torch);
    ``paper_baseline``: the genes (``d_model``, ``n_head``, ``d_inner``, ``d_embed``,
    ``div_val``) of the paper's hand-designed model, which the layer-scaled baselines
    (:mod:`lts.controller.search.baselines`) scale in depth; ``paper_headline``: the ratios the
    paper reports at its 16-layer baseline's decoder parameters (latency, peak memory: the
    baseline's over its frontier model's), which ``benchmarks/headline.py`` prints beside its
    own.
    """

    name: str
    title: str
    attention_params: Callable[[ArchConfig], int]
    feed_forward_params: Callable[[ArchConfig], int]
    layer_norm_params: Callable[[ArchConfig], int]
    learned_positions: bool
    segment_memory: bool
    default_mem_len: int = 0
    decode_keys: Callable[[ArchConfig, int], int]
    cache_width: Callable[[ArchConfig], int]
    model: str | None = None
    paper_baseline: Mapping[str, int] | None = None
    paper_headline: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a backbone needs a name, got {self.name!r}")
        if self.default_mem_len < 0 or (self.default_mem_len > 0) != self.segment_memory:
            raise ValueError(
                f"{self.name}: default_mem_len must be > 0 with a segment memory and 0 without"
            )
        if self.model is not None and ":" not in self.model:
            raise ValueError(f"{self.name}: model must be 'module:Class', got {self.model!r}")

    # ---------------------------------------------------------------- derived from the parts
    def position_params(self, cfg: ArchConfig) -> int:
        """The learned position table's parameters (0 without one)."""
        return cfg.tgt_len * cfg.d_model if self.learned_positions else 0

    def check_seq_len(self, cfg: ArchConfig, seq_len: int) -> None:
        """Raise ConfigError("seq_len") when ``cfg``'s model cannot read ``seq_len`` positions."""
        if self.learned_positions and seq_len > cfg.tgt_len:
            raise ConfigError(
                "seq_len",
                f"seq_len = {seq_len} exceeds the {self.title} position table "
                f"(tgt_len = {cfg.tgt_len})",
            )

    def check_mem_len(self, mem_len: int) -> None:
        """Raise ConfigError("mem_len") for a memory length the backbone cannot have."""
        if not self.segment_memory and mem_len != 0:
            raise ConfigError("mem_len", f"{self.title} has no segment memory; must be 0")

    def model_class(self) -> type[LanguageModel]:
        """The PyTorch model class (imports it, and torch). Raises ConfigError (field
        ``backbone``) when the backbone declares no model."""
        if self.model is None:
            raise ConfigError("backbone", f"{self.name!r} declares no model to build")
        module, _, name = self.model.partition(":")
        cls: type[LanguageModel] = getattr(importlib.import_module(module), name)
        return cls


_registry: dict[str, Backbone] = {}


def register(backbone: Backbone) -> Backbone:
    """Add ``backbone`` to the registry (its name must be new) and return it."""
    if backbone.name in _registry:
        raise ValueError(f"backbone {backbone.name!r} is already registered")
    _registry[backbone.name] = backbone
    return backbone


def backbone_names() -> tuple[str, ...]:
    """The registered backbones' names, in registration order."""
    return tuple(_registry)


def get_backbone(name: str) -> Backbone:
    """The declaration of backbone ``name``: the one lookup. Raises ConfigError (field
    ``backbone``, naming the choices) for a name that is not registered."""
    found = _registry.get(name) if isinstance(name, str) else None
    if found is None:
        choices = ", ".join(_registry)
        raise ConfigError("backbone", f"must be one of {choices}, got {name!r}")
    return found
