"""Parameter formulas that several backbones share (each written once; no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lts.shared.config import ArchConfig


def attention_width_sum(cfg: ArchConfig) -> int:
    """Sum over layers of the attention width ``n_head * d_head``."""
    if cfg.d_head is None:
        # d_head = d_model // n_head, and a valid config's n_head divides d_model in every
        # layer (ArchConfig enforces it), so every layer's width is d_model.
        return cfg.d_model * cfg.n_layer
    return cfg.d_head * sum(cfg.n_head)


def biased_feed_forward_params(cfg: ArchConfig) -> int:
    """Two linear layers with biases per block: ``2 * d_model * d_inner + d_inner + d_model``."""
    inner = sum(cfg.d_inner)
    return 2 * cfg.d_model * inner + inner + cfg.d_model * cfg.n_layer


def layer_norms(n_norms: int, d_model: int) -> int:
    """``n_norms`` layer norms over ``d_model``, each with a weight and a bias."""
    return n_norms * 2 * d_model
