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

from shared.config import ArchConfig


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
    """Attention parameters of all blocks."""
    d = cfg.d_model
    total = 0
    for layer in range(cfg.n_layer):
        a = cfg.attn_dim(layer)
        if cfg.backbone == "gpt2":
            total += 4 * d * a + 3 * a + d
        else:
            total += 5 * d * a + 2 * a
    return total


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


def _projection_widths(cfg: ArchConfig) -> list[int | None]:
    """Per cluster, the width projected to d_model, or None where no projection exists."""
    if cfg.div_val == 1:
        return [cfg.d_embed if cfg.d_embed != cfg.d_model else None]
    return list(cfg.cluster_widths())


def embedding_params(cfg: ArchConfig) -> int:
    """Adaptive input embedding with its projections (and GPT-2's learned positions)."""
    bounds = cfg.cluster_bounds
    if cfg.div_val == 1:
        tables = cfg.n_token * cfg.d_embed
    else:
        widths = cfg.cluster_widths()
        tables = sum((bounds[i + 1] - bounds[i]) * w for i, w in enumerate(widths))
    projections = sum(cfg.d_model * w for w in _projection_widths(cfg) if w is not None)
    positions = cfg.tgt_len * cfg.d_model if cfg.backbone == "gpt2" else 0
    return tables + projections + positions


def softmax_params(cfg: ArchConfig) -> int:
    """What the adaptive softmax adds beyond the (possibly tied) embedding."""
    n_tail = cfg.n_clusters - 1
    total = cfg.n_token + n_tail * (cfg.d_embed + 1)
    if not cfg.tie_weight:
        widths = cfg.cluster_widths()
        if cfg.div_val == 1:
            total += cfg.n_token * cfg.d_embed
        else:
            bounds = cfg.cluster_bounds
            total += sum((bounds[i + 1] - bounds[i]) * w for i, w in enumerate(widths))
    for i, width in enumerate(_projection_widths(cfg)):
        if width is not None and not cfg.tie_projs[i]:
            total += cfg.d_model * width
    return total


def count_params(cfg: ArchConfig) -> ParamCounts:
    """Every count of :class:`ParamCounts` for ``cfg``, computed by hand from the config."""
    attention = attention_params(cfg)
    feed_forward = feed_forward_params(cfg)
    layer_norm = layer_norm_params(cfg)
    decoder = attention + feed_forward + layer_norm
    embedding = embedding_params(cfg)
    softmax = softmax_params(cfg)
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
