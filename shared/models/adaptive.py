"""Adaptive input embedding and projected adaptive log-softmax (Transformer-XL's design).

The vocabulary is split into clusters ``[b[i], b[i+1])`` with ``b = cfg.cluster_bounds``;
cluster ``i`` has embedding width ``cfg.cluster_widths()[i]`` (``d_embed // div_val**i``).

Parameters (exactly those that :mod:`lts.shared.params` counts):

* :class:`AdaptiveEmbedding`. ``div_val == 1``: one table ``emb_layers.0.weight``
  (n_token, d_embed) and, only when ``d_embed != d_model``, one projection ``emb_projs.0``
  (d_model, d_embed). ``div_val > 1``: per cluster a table (size_i, width_i) and a projection
  (d_model, width_i), always.
* :class:`ProjectedAdaptiveLogSoftmax`. ``out_layers``: one linear layer per table (weight of
  the table's shape, bias of its size; the biases cover all ``n_token``). With ``tie_weight``
  the weights *are* the embedding tables. ``out_projs``: one projection per embedding
  projection, the embedding's own Parameter where ``tie_projs[i]``. ``cluster_weight``
  (n_clusters - 1, d_embed) and ``cluster_bias`` (n_clusters - 1): the head's logits of the
  tail clusters (absent when there is one cluster).

Tying survives ``copy.deepcopy`` and ``Module.to``, but not ``Module.to_empty``; the models
call :meth:`ProjectedAdaptiveLogSoftmax.tie_to` again after materialising.

``forward`` uses no data-dependent Python control flow (every cluster is computed for every
position and selected with ``torch.where``), so that it can be traced for ONNX export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError

OUTPUTS = ("last", "all")


def _projection_widths(cfg: ArchConfig) -> list[int]:
    """Widths of the embedding's projections to d_model (one per cluster, or one or none)."""
    if cfg.div_val == 1:
        return [cfg.d_embed] if cfg.d_embed != cfg.d_model else []
    return list(cfg.cluster_widths())


def _table_shapes(cfg: ArchConfig) -> list[tuple[int, int]]:
    """(rows, width) of each embedding table: one table when div_val is 1."""
    if cfg.div_val == 1:
        return [(cfg.n_token, cfg.d_embed)]
    b = cfg.cluster_bounds
    return [(b[i + 1] - b[i], w) for i, w in enumerate(cfg.cluster_widths())]


class AdaptiveEmbedding(nn.Module):
    """Token ids (B, T) -> embeddings (B, T, d_model), scaled by sqrt(d_model)."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.div_val = cfg.div_val
        self.bounds = cfg.cluster_bounds
        self.scale = cfg.d_model**0.5
        self.emb_layers = nn.ModuleList(nn.Embedding(n, w) for n, w in _table_shapes(cfg))
        self.emb_projs = nn.ParameterList(
            nn.Parameter(torch.empty(cfg.d_model, w)) for w in _projection_widths(cfg)
        )

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if self.div_val == 1:
            x = self.emb_layers[0](idx)  # (B, T, d_embed)
            if len(self.emb_projs):
                x = F.linear(x, self.emb_projs[0])  # (B, T, d_model)
            return x * self.scale
        x = None  # cluster 0's embedding, overwritten where an id lies in a tail cluster
        for i, (emb, proj) in enumerate(zip(self.emb_layers, self.emb_projs, strict=True)):
            lo, hi = self.bounds[i], self.bounds[i + 1]
            local = (idx - lo).clamp(0, hi - lo - 1)  # (B, T) ids inside the cluster
            x_i = F.linear(emb(local), proj)  # (B, T, d_model)
            x = x_i if x is None else torch.where((idx >= lo).unsqueeze(-1), x_i, x)
        return x * self.scale


class ProjectedAdaptiveLogSoftmax(nn.Module):
    """Hidden states (.., d_model) -> log-probabilities over the whole vocabulary.

    Full log-probabilities: the head's log-softmax over its own tokens and the tail clusters'
    logits; a tail token's log-probability is its cluster's head log-probability plus the
    log-softmax within the cluster. ``emb`` is the embedding to tie to (see module docstring).
    """

    def __init__(self, cfg: ArchConfig, emb: AdaptiveEmbedding) -> None:
        super().__init__()
        self.div_val = cfg.div_val
        self.bounds = cfg.cluster_bounds
        self.n_tail = cfg.n_clusters - 1
        self.tie_weight = cfg.tie_weight
        self.tie_projs = cfg.tie_projs
        self.out_layers = nn.ModuleList(nn.Linear(w, n) for n, w in _table_shapes(cfg))
        self.out_projs = nn.ParameterList(
            nn.Parameter(torch.empty(cfg.d_model, w)) for w in _projection_widths(cfg)
        )
        if self.n_tail:
            self.cluster_weight = nn.Parameter(torch.empty(self.n_tail, cfg.d_embed))
            self.cluster_bias = nn.Parameter(torch.empty(self.n_tail))
        self.tie_to(emb)

    def tie_to(self, emb: AdaptiveEmbedding) -> None:
        """Share the output weights and the flagged projections with ``emb`` (idempotent)."""
        if self.tie_weight:
            for out, table in zip(self.out_layers, emb.emb_layers, strict=True):
                out.weight = table.weight
        for i in range(len(self.out_projs)):
            if self.tie_projs[i]:
                self.out_projs[i] = emb.emb_projs[i]

    def _logits(self, hidden: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Head logits (N, b[1] + n_tail) and per tail cluster its logits (N, size_i)."""
        if self.div_val == 1:
            h = hidden @ self.out_projs[0] if len(self.out_projs) else hidden  # (N, d_embed)
            logits = self.out_layers[0](h)  # (N, V)
            b = self.bounds
            head = logits[:, : b[1]]  # (N, b[1])
            tails = [logits[:, b[i] : b[i + 1]] for i in range(1, self.n_tail + 1)]
            h0 = h
        else:
            hs = [hidden @ proj for proj in self.out_projs]  # (N, width_i) each
            logits = [out(h) for out, h in zip(self.out_layers, hs, strict=True)]
            head, tails, h0 = logits[0], logits[1:], hs[0]
        if self.n_tail:
            cluster = F.linear(h0, self.cluster_weight, self.cluster_bias)  # (N, n_tail)
            head = torch.cat([head, cluster], dim=-1)  # (N, b[1] + n_tail)
        return head, tails

    def log_prob(self, hidden: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (N, n_token) of hidden states (N, d_model)."""
        head, tails = self._logits(hidden)
        head_lp = F.log_softmax(head, dim=-1)  # (N, b[1] + n_tail)
        if not tails:
            return head_lp
        c0 = self.bounds[1]
        parts = [head_lp[:, :c0]]
        for i, tail in enumerate(tails):
            cluster_lp = head_lp[:, c0 + i : c0 + i + 1]  # (N, 1)
            parts.append(F.log_softmax(tail, dim=-1) + cluster_lp)  # (N, size_i)
        return torch.cat(parts, dim=-1)  # (N, V)

    def nll(self, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood (N,) of ``target`` (N,) ids in [0, n_token) given (N, d)."""
        head, tails = self._logits(hidden)
        head_lp = F.log_softmax(head, dim=-1)  # (N, b[1] + n_tail)
        c0 = self.bounds[1]
        lp = head_lp.gather(1, target.clamp(max=c0 - 1).unsqueeze(1)).squeeze(1)  # (N,)
        for i, tail in enumerate(tails):
            lo, hi = self.bounds[i + 1], self.bounds[i + 2]
            local = (target - lo).clamp(0, hi - lo - 1).unsqueeze(1)  # (N, 1)
            lp_i = F.log_softmax(tail, dim=-1).gather(1, local).squeeze(1)  # (N,)
            lp = torch.where(target >= lo, lp_i + head_lp[:, c0 + i], lp)  # (N,)
        return -lp

    def forward(
        self, x: torch.Tensor, targets: torch.Tensor | None = None, *, output: str = "last"
    ) -> torch.Tensor:
        """The language-model output of final hidden states ``x`` (B, T, d_model).

        With ``targets`` (B, T): the mean NLL over all positions (a scalar). Otherwise
        log-probabilities (B, T, V) for ``output="all"``, (B, 1, V) for ``"last"``.
        """
        B, T, C = x.size()
        if targets is not None:
            return self.nll(x.reshape(B * T, C), targets.reshape(B * T)).mean()
        if output == "last":
            x, T = x[:, -1:, :], 1  # (B, 1, C)
        elif output != "all":
            raise ConfigError("output", f"must be one of {', '.join(OUTPUTS)}, got {output!r}")
        return self.log_prob(x.reshape(B * T, C)).view(B, T, -1)  # (B, T, V)
