"""Transformer-XL, declared: relative positions (no parameters, any length), post-LN blocks,
a segment memory of ``mem_len`` positions.

The model is :class:`lts.shared.models.transxl.TransXL` (its module names appear in the
formulas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lts.shared.backbones import parts
from lts.shared.backbones.base import Backbone

if TYPE_CHECKING:
    from lts.shared.config import ArchConfig


def attention_params(cfg: ArchConfig) -> int:
    """``qkv_net``, ``o_net`` and the relative-position ``r_net``, all without bias, plus the
    per-layer content and position biases ``r_w_bias`` and ``r_r_bias``: per layer
    ``5 * d_model * d_attn + 2 * d_attn`` (``d_attn = n_head * d_head``)."""
    return (5 * cfg.d_model + 2) * parts.attention_width_sum(cfg)


def layer_norm_params(cfg: ArchConfig) -> int:
    """``ln_1`` and ``ln_2`` of every block (no final layer norm)."""
    return parts.layer_norms(2 * cfg.n_layer, cfg.d_model)


def decode_keys(cfg: ArchConfig, seq_len: int) -> int:
    """The memory (the last ``min(seq_len - 1, mem_len)`` positions) and the new one."""
    return min(seq_len - 1, cfg.mem_len) + 1


def cache_width(cfg: ArchConfig) -> int:
    """The memory holds every layer's input (``d_model`` per layer)."""
    return cfg.n_layer * cfg.d_model


TRANSXL_BACKBONE = Backbone(
    name="transxl",
    title="Transformer-XL",
    attention_params=attention_params,
    feed_forward_params=parts.biased_feed_forward_params,  # c_fc, c_proj
    layer_norm_params=layer_norm_params,
    learned_positions=False,
    segment_memory=True,
    default_mem_len=192,
    decode_keys=decode_keys,
    cache_width=cache_width,
    model="lts.shared.models.transxl:TransXL",
    paper_baseline={"d_model": 512, "n_head": 8, "d_inner": 2048, "d_embed": 512, "div_val": 4},
    # on a Core i7
    paper_headline=(1.7, 1.9),
)
