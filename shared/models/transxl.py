"""Transformer-XL with per-layer heads and feed-forward widths and an adaptive embedding/softmax.

Relative positional attention (Dai et al. 2019, the ``attn_type 0`` of the original code):
``qkv_net``, ``o_net`` and ``r_net`` without biases, per-layer content and position biases
``r_w_bias`` and ``r_r_bias`` (n_head, d_head), sinusoidal relative positions (no parameters).
Post-LN blocks (``ln_1(x + attn(x))``, ``ln_2(x + ff(x))``, the feed-forward with ReLU); no
final layer norm. A segment memory keeps the last ``mem_len`` inputs of every layer across
:meth:`TransXL.decode_step` calls. The input embedding and the output softmax are
:mod:`lts.shared.models.adaptive`'s; the softmax weights are tied to the embedding tables when
``tie_weight`` and projection ``i`` to the embedding's when ``tie_projs[i]``.

Build it with :func:`lts.shared.models.build_model`, which materialises and initialises it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from lts.shared.backbones.transxl import TRANSXL_BACKBONE
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.models.adaptive import AdaptiveEmbedding, ProjectedAdaptiveLogSoftmax
from lts.shared.models.base import LanguageModel


@dataclass(frozen=True)
class XLMemory:
    """The segment memory: per layer the last (at most mem_len) inputs, each (B, M, d_model).
    Immutable: :meth:`TransXL.decode_step` returns a new one and never changes its input."""

    mems: tuple[torch.Tensor, ...]

    @property
    def length(self) -> int:
        """Number of positions held (at most mem_len)."""
        return self.mems[0].size(1) if self.mems else 0

    def flatten(self) -> list[torch.Tensor]:
        """``m0, m1, ...``: the ONNX decode graph's cache inputs."""
        return list(self.mems)

    @classmethod
    def unflatten(cls, flat: Sequence[torch.Tensor]) -> XLMemory:
        """The inverse of :meth:`flatten`."""
        return cls(tuple(flat))


def _sinusoid(klen: int, d_model: int, like: torch.Tensor) -> torch.Tensor:
    """(klen, d_model) sinusoidal embeddings of the distances klen - 1, ..., 1, 0."""
    pos = torch.arange(klen - 1, -1, -1.0, device=like.device, dtype=like.dtype)  # (K,)
    freq = torch.arange(0.0, d_model, 2.0, device=like.device, dtype=like.dtype)  # (C/2,)
    inv_freq = 1.0 / (10000 ** (freq / d_model))  # (C/2,)
    angles = torch.outer(pos, inv_freq)  # (K, C/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)[:, :d_model]  # (K, C)


def _rel_shift(x: torch.Tensor) -> torch.Tensor:
    """(B, nh, T, K) scores over distances K-1..0 -> scores over keys: out[i, j] = x[i, j + T-1-i]
    (exact wherever key j is visible to query i; the rest is masked afterwards)."""
    B, H, T, K = x.size()
    x = F.pad(x, (1, 0))  # (B, nh, T, K + 1)
    x = x.view(B, H, K + 1, T)[:, :, 1:]  # (B, nh, K, T)
    return x.reshape(B, H, T, K)


class RelMultiHeadAttn(nn.Module):
    def __init__(self, cfg: ArchConfig, layer: int) -> None:
        super().__init__()
        self.n_head = cfg.n_head[layer]
        self.d_head = cfg.head_dim(layer)
        self.d_attn = cfg.attn_dim(layer)
        self.qkv_net = nn.Linear(cfg.d_model, 3 * self.d_attn, bias=False)
        self.r_net = nn.Linear(cfg.d_model, self.d_attn, bias=False)
        self.o_net = nn.Linear(self.d_attn, cfg.d_model, bias=False)
        self.r_w_bias = nn.Parameter(torch.empty(self.n_head, self.d_head))
        self.r_r_bias = nn.Parameter(torch.empty(self.n_head, self.d_head))

    def forward(
        self, x: torch.Tensor, r: torch.Tensor, mem: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x`` (B, T, C) attends to ``mem`` (B, M, C) and to itself; ``r`` (M + T, C)."""
        B, T, _ = x.size()
        nh, hd = self.n_head, self.d_head
        cat = x if mem is None else torch.cat([mem, x], dim=1)  # (B, K, C), K = M + T
        K = cat.size(1)
        q, k, v = self.qkv_net(cat).split(self.d_attn, dim=2)  # (B, K, d_attn) each
        q = q[:, -T:].reshape(B, T, nh, hd).transpose(1, 2)  # (B, nh, T, hd)
        k = k.reshape(B, K, nh, hd).transpose(1, 2)  # (B, nh, K, hd)
        v = v.reshape(B, K, nh, hd).transpose(1, 2)  # (B, nh, K, hd)
        r_k = self.r_net(r).view(K, nh, hd).transpose(0, 1)  # (nh, K, hd)
        bd = (q + self.r_r_bias[:, None, :]) @ r_k.transpose(1, 2)  # (B, nh, T, K)
        bd = _rel_shift(bd) * hd**-0.5  # (B, nh, T, K)
        visible = torch.arange(K, device=x.device)[None, :] <= (
            torch.arange(T, device=x.device)[:, None] + (K - T)
        )  # (T, K)
        bd = bd.masked_fill(~visible, float("-inf"))  # (B, nh, T, K)
        # softmax((q + r_w_bias) k^T / sqrt(hd) + bd) v: the position term enters as a mask.
        y = F.scaled_dot_product_attention(q + self.r_w_bias[:, None, :], k, v, attn_mask=bd)
        y = y.transpose(1, 2).reshape(B, T, self.d_attn)  # (B, T, d_attn)
        return self.o_net(y)  # (B, T, C)


class PositionwiseFF(nn.Module):
    def __init__(self, cfg: ArchConfig, layer: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.d_model, cfg.d_inner[layer])
        self.c_proj = nn.Linear(cfg.d_inner[layer], cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.relu(self.c_fc(x)))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: ArchConfig, layer: int) -> None:
        super().__init__()
        self.attn = RelMultiHeadAttn(cfg, layer)
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.ff = PositionwiseFF(cfg, layer)
        self.ln_2 = nn.LayerNorm(cfg.d_model)

    def forward(
        self, x: torch.Tensor, r: torch.Tensor, mem: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.ln_1(x + self.attn(x, r, mem))  # (B, T, C)
        x = self.ln_2(x + self.ff(x))  # (B, T, C)
        return x


class TransXL(LanguageModel):
    """Transformer-XL language model over token ids (B, T); any T (relative positions)."""

    residual_out = ("o_net", "c_proj")  # attn.o_net, ff.c_proj
    cache_class = XLMemory

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        if cfg.backbone != TRANSXL_BACKBONE.name:
            name = TRANSXL_BACKBONE.name
            raise ConfigError("backbone", f"TransXL needs {name!r}, got {cfg.backbone!r}")
        self.cfg = cfg
        self.word_emb = AdaptiveEmbedding(cfg)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.crit = ProjectedAdaptiveLogSoftmax(cfg, self.word_emb)

    def tie_weights(self) -> None:
        """Tie the softmax to the embedding again (needed after ``Module.to_empty``)."""
        self.crit.tie_to(self.word_emb)

    def param_groups(self) -> dict[str, list[nn.Module]]:
        """The modules of each parameter group of :class:`lts.shared.params.ParamCounts`."""
        blocks = cast("list[Block]", list(self.layers))
        return {
            "embedding": [self.word_emb],
            "attention": [b.attn for b in blocks],
            "feed_forward": [b.ff for b in blocks],
            "layer_norm": [m for b in blocks for m in (b.ln_1, b.ln_2)],
            "softmax": [self.crit],
        }

    def _run(
        self, idx: torch.Tensor, mems: tuple[torch.Tensor, ...] | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final hidden states (B, T, C) and the input of every layer (B, T, C) each."""
        x = self.word_emb(idx)  # (B, T, C)
        klen = x.size(1) + (0 if mems is None else mems[0].size(1))
        r = _sinusoid(klen, self.cfg.d_model, x)  # (K, C)
        hids = []
        for i, block in enumerate(self.layers):
            hids.append(x)
            x = block(x, r, None if mems is None else mems[i])  # (B, T, C)
        return x, hids

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, output: str = "last"
    ) -> torch.Tensor:
        """One segment without memory. Log-probs (B, T, V) for ``output="all"``, (B, 1, V) for
        ``"last"``, or the mean NLL over all positions when ``targets`` (B, T) are given."""
        x, _ = self._run(idx, None)
        return self.crit(x, targets, output=output)

    @torch.no_grad()
    def decode_step(
        self, idx: torch.Tensor, cache: XLMemory | None = None
    ) -> tuple[torch.Tensor, XLMemory]:
        """Run ``idx`` (B, t) with the memory ``cache``: the log-probs (B, 1, V) of the last
        position and a new memory holding the last mem_len inputs of every layer. ``cache`` is
        not changed."""
        mems = None if cache is None else cache.mems
        x, hids = self._run(idx, mems)
        new_mems = []
        for i, h in enumerate(hids):
            full = h if mems is None else torch.cat([mems[i], h], dim=1)  # (B, M + t, C)
            start = max(0, full.size(1) - self.cfg.mem_len)
            new_mems.append(full[:, start:])  # (B, <= mem_len, C)
        return self.crit(x[:, -1:, :], output="last"), XLMemory(tuple(new_mems))
