"""Exact parameter accounting from the config alone (no torch).

Definitions (the one place they are written down; the builders in :mod:`shared.models` follow
them and a test checks ``sum(p.numel())`` of the matching modules against these counts):

* ``attention``: per block, the query/key/value and output projections. GPT-2: ``c_attn`` and
  ``c_proj`` with biases (``4 * d_model * d_attn + 3 * d_attn + d_model``). Transformer-XL:
  ``qkv_net``, ``o_net`` and the relative-position ``r_net``, all without bias, plus the
  per-layer content and position biases ``r_w_bias`` and ``r_r_bias``
  (``5 * d_model * d_attn + 2 * d_attn``). ``d_attn = n_head * d_head``.
* ``feed_forward``: per block, the two linear layers with biases
  (``2 * d_model * d_inner + d_inner + d_model``).
* ``layer_norm``: the two layer norms of every block, and GPT-2's final layer norm.
* ``decoder`` (what the published tables call *nonembedding*, the perplexity proxy):
  ``attention + feed_forward + layer_norm``.
* ``embedding`` (the tables' *AdaEmb*): the adaptive input embedding (one table per cluster,
  width ``d_embed // div_val**i``, or a single ``n_token x d_embed`` table when div_val is 1) and
  its projections to ``d_model`` (none where the width already is ``d_model``); for GPT-2 also
  the learned position table (``tgt_len x d_model``). Transformer-XL's sinusoidal positions
  have no parameters.
* ``softmax``: what the adaptive softmax adds beyond the embedding: the output biases
  (``n_token``), the cluster logits of the head (``(n_clusters - 1) * (d_embed + 1)``), the
  output weights when ``tie_weight`` is false, and each cluster's projection that is not tied
  to the embedding's (``tie_projs``).
* ``total``: every unique parameter: ``decoder + embedding + softmax``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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


def _attention_width_sum(cfg: ArchConfig) -> int:
    """Sum over layers of the attention width ``n_head * d_head``."""
    if cfg.d_head is None:
        # d_head = d_model // n_head, and a valid config's n_head divides d_model in every
        # layer (ArchConfig enforces it), so every layer's width is d_model.
        return cfg.d_model * cfg.n_layer
    return cfg.d_head * sum(cfg.n_head)


def attention_params(cfg: ArchConfig) -> int:
    """Attention parameters of all blocks."""
    d = cfg.d_model
    widths = _attention_width_sum(cfg)
    if cfg.backbone == "gpt2":
        return (4 * d + 3) * widths + d * cfg.n_layer  # per layer: 4*d*a + 3*a + d
    return (5 * d + 2) * widths  # per layer: 5*d*a + 2*a


def feed_forward_params(cfg: ArchConfig) -> int:
    """Feed-forward parameters of all blocks."""
    d = cfg.d_model
    inner = sum(cfg.d_inner)
    return 2 * d * inner + inner + d * cfg.n_layer


def layer_norm_params(cfg: ArchConfig) -> int:
    """Layer-norm parameters: two per block (weight and bias each), plus GPT-2's final one."""
    n_norms = 2 * cfg.n_layer + (1 if cfg.backbone == "gpt2" else 0)
    return n_norms * 2 * cfg.d_model


def decoder_params(cfg: ArchConfig) -> int:
    """Decoder (non-embedding) parameters: the perplexity proxy of LiteTransformerSearch."""
    return attention_params(cfg) + feed_forward_params(cfg) + layer_norm_params(cfg)


def _embedding_and_softmax(cfg: ArchConfig) -> tuple[int, int]:
    """``(embedding, softmax)`` counts in one pass over the clusters (the hot path).

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
    embedding = tables + d * projected + (cfg.tgt_len * d if cfg.backbone == "gpt2" else 0)
    softmax = n_token + len(cfg.cutoffs) * (d_embed + 1) + d * untied
    if not cfg.tie_weight:
        softmax += tables
    return embedding, softmax


def count_params(cfg: ArchConfig) -> ParamCounts:
    """Every count of :class:`ParamCounts` for ``cfg``, computed by hand from the config.

    One pass over the config (a search's hot path; timed by ``benchmarks/params_count.py``).
    Its decoder, attention, feed-forward and layer-norm counts equal what the matching
    functions above return.
    """
    d = cfg.d_model
    n_layer = cfg.n_layer
    gpt2 = cfg.backbone == "gpt2"
    widths = _attention_width_sum(cfg)
    attention = (4 * d + 3) * widths + d * n_layer if gpt2 else (5 * d + 2) * widths
    inner = sum(cfg.d_inner)
    feed_forward = 2 * d * inner + inner + d * n_layer
    layer_norm = (2 * n_layer + gpt2) * 2 * d
    decoder = attention + feed_forward + layer_norm
    embedding, softmax = _embedding_and_softmax(cfg)
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
