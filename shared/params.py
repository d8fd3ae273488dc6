"""Exact parameter accounting from the config alone (no torch).

Definitions (the one place they are written down; the builders in :mod:`lts.shared.models` follow
them and a test checks ``sum(p.numel())`` of the matching modules against these counts). The
formulas of the parts that differ between backbones are written once each, in the backbone's
declaration (:mod:`lts.shared.backbones.gpt2`, :mod:`lts.shared.backbones.transxl`); this module
composes them:

* ``attention``: per block, the query/key/value and output projections and whatever else the
  backbone's attention holds (GPT-2: ``c_attn`` and ``c_proj`` with biases; Transformer-XL:
  ``qkv_net``, ``o_net`` and the relative-position ``r_net`` without biases, and the per-layer
  content and position biases ``r_w_bias`` and ``r_r_bias``).
* ``feed_forward``: per block, the feed-forward layers (for both backbones: two linear layers
  with biases).
* ``layer_norm``: the layer norms of every block, and a final one where the backbone has it
  (GPT-2).
* ``decoder`` (what the published tables call *nonembedding*, the perplexity proxy):
  ``attention + feed_forward + layer_norm``.
* ``embedding`` (the tables' *AdaEmb*): the adaptive input embedding (one table per cluster,
  width ``d_embed // div_val**i``, or a single ``n_token x d_embed`` table when div_val is 1) and
  its projections to ``d_model`` (none where the width already is ``d_model``), and a learned
  position table (``tgt_len x d_model``) where the backbone has one (GPT-2; Transformer-XL's
  sinusoidal positions have no parameters).
* ``softmax``: what the adaptive softmax adds beyond the embedding: the output biases
  (``n_token``), the cluster logits of the head (``(n_clusters - 1) * (d_embed + 1)``), the
  output weights when ``tie_weight`` is false, and each cluster's projection that is not tied
  to the embedding's (``tie_projs``).
* ``total``: every unique parameter: ``decoder + embedding + softmax``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lts.shared.backbones import get_backbone
from lts.shared.config import ArchConfig


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of one architecture, in elements (see the module docstring)."""

    decoder: int
    attention: int
    feed_forward: int
    layer_norm: int
    embedding: int
    softmax: int
    total: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def attention_params(cfg: ArchConfig) -> int:
    """Attention parameters of all blocks (the backbone's formula)."""
    return get_backbone(cfg.backbone).attention_params(cfg)


def feed_forward_params(cfg: ArchConfig) -> int:
    """Feed-forward parameters of all blocks (the backbone's formula)."""
    return get_backbone(cfg.backbone).feed_forward_params(cfg)


def layer_norm_params(cfg: ArchConfig) -> int:
    """Layer-norm parameters of all blocks and the final one, if any (the backbone's formula)."""
    return get_backbone(cfg.backbone).layer_norm_params(cfg)


def decoder_params(cfg: ArchConfig) -> int:
    """Decoder (non-embedding) parameters: the perplexity proxy of LiteTransformerSearch."""
    backbone = get_backbone(cfg.backbone)
    return (
        backbone.attention_params(cfg)
        + backbone.feed_forward_params(cfg)
        + backbone.layer_norm_params(cfg)
    )


def _adaptive_params(cfg: ArchConfig) -> tuple[int, int]:
    """``(embedding, softmax)`` counts of the adaptive embedding and softmax, in one pass over
    the clusters (the hot path); the embedding without a position table.

    Cluster ``i`` holds ``bounds[i+1] - bounds[i]`` tokens at width ``d_embed // div_val**i``
    (one ``n_token x d_embed`` table when div_val is 1). Projections to d_model: one per
    cluster when div_val > 1; when div_val is 1, one only where d_embed differs from d_model.
    """
    d = cfg.d_model
    d_embed = cfg.d_embed
    n_token = cfg.n_token
    div_val = cfg.div_val
    tie = cfg.tie_projs
    if div_val == 1:
        tables = n_token * d_embed
        projected = d_embed if d_embed != d else 0
        untied = 0 if tie[0] else projected
    else:
        tables = projected = untied = lo = 0
        for i, hi in enumerate((*cfg.cutoffs, n_token)):
            width = d_embed // div_val**i
            tables += (hi - lo) * width
            projected += width
            if not tie[i]:
                untied += width
            lo = hi
    embedding = tables + d * projected
    softmax = n_token + len(cfg.cutoffs) * (d_embed + 1) + d * untied
    if not cfg.tie_weight:
        softmax += tables
    return embedding, softmax


def count_params(cfg: ArchConfig) -> ParamCounts:
    """Every count of :class:`ParamCounts` for ``cfg``, computed by hand from the config.

    One pass over the config (a search's hot path; timed by ``benchmarks/params_count.py``):
    the backbone's formulas, composed.
    """
    backbone = get_backbone(cfg.backbone)
    attention = backbone.attention_params(cfg)
    feed_forward = backbone.feed_forward_params(cfg)
    layer_norm = backbone.layer_norm_params(cfg)
    decoder = attention + feed_forward + layer_norm
    embedding, softmax = _adaptive_params(cfg)
    embedding += backbone.position_params(cfg)
    return ParamCounts(
        decoder=decoder,
        attention=attention,
        feed_forward=feed_forward,
        layer_norm=layer_norm,
        embedding=embedding,
        softmax=softmax,
        total=decoder + embedding + softmax,
    )


def table_params(counts: ParamCounts) -> dict[str, int]:
    """Counts under the published tables' names (``nonembedding``, ``AdaEmb``, ...)."""
    return {
        "nonembedding": counts.decoder,
        "AdaEmb": counts.embedding,
        "Attn": counts.attention,
        "FFN": counts.feed_forward,
        "total": counts.total,
    }
