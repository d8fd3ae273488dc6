"""GPT-2, declared: learned positions, pre-LN blocks with a final layer norm, a key/value cache.

The model is :class:`lts.shared.models.gpt2.GPT2` (its module names appear in the formulas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lts.shared.backbones import parts
from lts.shared.backbones.base import Backbone

if TYPE_CHECKING:
    from lts.shared.config import ArchConfig


def attention_params(cfg: ArchConfig) -> int:
    """``c_attn`` and ``c_proj`` with biases: per layer ``4 * d_model * d_attn + 3 * d_attn +
    d_model`` (``d_attn = n_head * d_head``)."""
    return (4 * cfg.d_model + 3) * parts.attention_width_sum(cfg) + cfg.d_model * cfg.n_layer


def layer_norm_params(cfg: ArchConfig) -> int:
    """``ln_1`` and ``ln_2`` of every block, and the final ``ln_f``."""
    return parts.layer_norms(2 * cfg.n_layer + 1, cfg.d_model)


def decode_keys(cfg: ArchConfig, seq_len: int) -> int:
    """Every position: the cache keeps the whole sequence."""
    return seq_len


def cache_width(cfg: ArchConfig) -> int:
    """The keys and the values of every layer (``2 * d_attn`` per layer)."""
    return 2 * parts.attention_width_sum(cfg)


GPT2_BACKBONE = Backbone(
    name="gpt2",
    title="GPT-2",
    attention_params=attention_params,
    feed_forward_params=parts.biased_feed_forward_params,  # c_fc, c_proj
    layer_norm_params=layer_norm_params,
    learned_positions=True,  # wpe
    segment_memory=False,
    decode_keys=decode_keys,
    cache_width=cache_width,
    model="lts.shared.models.gpt2:GPT2",
    # The paper's GPT-2 baseline with 16 heads of 64: the published config says 12 heads,
    # which do not divide 1024 (this config format would need an explicit d_head for that),
    # so the baseline uses the 16 heads a 1024-wide GPT-2 block normally has.
    paper_baseline={"d_model": 1024, "n_head": 16, "d_inner": 2048, "d_embed": 784, "div_val": 4},
    # 1.3x (Core i7) to 1.5x (TITAN Xp) lower latency, 1.2x lower memory
    paper_headline=(1.3, 1.2),
)
