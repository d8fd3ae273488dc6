"""GPT-2 with per-layer heads and feed-forward widths and an adaptive embedding/softmax.

Pre-LN blocks as in GPT-2 (``x + attn(ln_1(x))``, ``x + mlp(ln_2(x))``), learned positions
(``wpe``: tgt_len x d_model), a final layer norm ``ln_f``. Layer ``i`` attends with
``n_head[i]`` heads of ``head_dim(i)`` (width ``attn_dim(i)``, which need not be d_model) and
has a feed-forward width ``d_inner[i]``. The input embedding and the output softmax are
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

from lts.shared.backbones.gpt2 import GPT2_BACKBONE
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.models.adaptive import AdaptiveEmbedding, ProjectedAdaptiveLogSoftmax
from lts.shared.models.base import LanguageModel

KV = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class KVCache:
    """Keys and values of every layer, each (B, n_head, length, d_head). Immutable:
    :meth:`GPT2.decode_step` returns a new cache and never changes the one it is given."""

    layers: tuple[KV, ...]

    @property
    def length(self) -> int:
        """Number of positions held."""
        return self.layers[0][0].size(2) if self.layers else 0

    def flatten(self) -> list[torch.Tensor]:
        """``k0, v0, k1, v1, ...``: the ONNX decode graph's cache inputs."""
        return [t for kv in self.layers for t in kv]

    @classmethod
    def unflatten(cls, flat: Sequence[torch.Tensor]) -> KVCache:
        """The inverse of :meth:`flatten`."""
        return cls(tuple((flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)))


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ArchConfig, layer: int) -> None:
        super().__init__()
        self.n_head = cfg.n_head[layer]
        self.d_head = cfg.head_dim(layer)
        self.d_attn = cfg.attn_dim(layer)
        self.c_attn = nn.Linear(cfg.d_model, 3 * self.d_attn)
        self.c_proj = nn.Linear(self.d_attn, cfg.d_model)

    def forward(self, x: torch.Tensor, past: KV | None = None) -> tuple[torch.Tensor, KV]:
        B, T, _ = x.size()
        q, k, v = self.c_attn(x).split(self.d_attn, dim=2)  # (B, T, d_attn) each
        q = q.view(B, T, self.n_head, self.d_head).transpose(1, 2)  # (B, nh, T, hd)
        k = k.view(B, T, self.n_head, self.d_head).transpose(1, 2)  # (B, nh, T, hd)
        v = v.view(B, T, self.n_head, self.d_head).transpose(1, 2)  # (B, nh, T, hd)
        if past is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hd)
        else:
            k = torch.cat([past[0], k], dim=2)  # (B, nh, P + T, hd)
            v = torch.cat([past[1], v], dim=2)  # (B, nh, P + T, hd)
            mask = None if T == 1 else _causal_mask(T, k.size(2), x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, nh, T, hd)
        y = y.transpose(1, 2).reshape(B, T, self.d_attn)  # (B, T, d_attn)
        return self.c_proj(y), (k, v)


def _causal_mask(T: int, K: int, device: torch.device) -> torch.Tensor:
    """(T, K) boolean, True where query i (the last T of K positions) may attend to key j."""
    query_pos = torch.arange(K - T, K, device=device)  # (T,)
    return torch.arange(K, device=device)[None, :] <= query_pos[:, None]


class MLP(nn.Module):
    def __init__(self, cfg: ArchConfig, layer: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.d_model, cfg.d_inner[layer])
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(cfg.d_inner[layer], cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: ArchConfig, layer: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg, layer)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg, layer)

    def forward(self, x: torch.Tensor, past: KV | None = None) -> tuple[torch.Tensor, KV]:
        a, present = self.attn(self.ln_1(x), past)
        x = x + a  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x, present


class GPT2(LanguageModel):
    """GPT-2 language model over token ids (B, T), T <= cfg.tgt_len."""

    residual_out = ("c_proj",)  # attn.c_proj, mlp.c_proj
    cache_class = KVCache

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        if cfg.backbone != GPT2_BACKBONE.name:
            name = GPT2_BACKBONE.name
            raise ConfigError("backbone", f"GPT2 needs {name!r}, got {cfg.backbone!r}")
        self.cfg = cfg
        self.word_emb = AdaptiveEmbedding(cfg)
        self.wpe = nn.Embedding(cfg.tgt_len, cfg.d_model)
        self.h = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.crit = ProjectedAdaptiveLogSoftmax(cfg, self.word_emb)

    def tie_weights(self) -> None:
        """Tie the softmax to the embedding again (needed after ``Module.to_empty``)."""
        self.crit.tie_to(self.word_emb)

    def param_groups(self) -> dict[str, list[nn.Module]]:
        """The modules of each parameter group of :class:`lts.shared.params.ParamCounts`."""
        blocks = cast("list[Block]", list(self.h))
        return {
            "embedding": [self.word_emb, self.wpe],
            "attention": [b.attn for b in blocks],
            "feed_forward": [b.mlp for b in blocks],
            "layer_norm": [*(m for b in blocks for m in (b.ln_1, b.ln_2)), self.ln_f],
            "softmax": [self.crit],
        }

    def _embed(self, idx: torch.Tensor, start: int) -> torch.Tensor:
        T = idx.size(1)
        if start + T > self.cfg.tgt_len:
            raise ConfigError(
                "seq_len",
                f"{start + T} positions exceed the position table (tgt_len = {self.cfg.tgt_len})",
            )
        pos = torch.arange(start, start + T, dtype=torch.long, device=idx.device)  # (T,)
        return self.word_emb(idx) + self.wpe(pos)  # (B, T, C)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, output: str = "last"
    ) -> torch.Tensor:
        """Log-probs (B, T, V) for ``output="all"``, (B, 1, V) for ``"last"``, or the mean
        NLL over all positions when ``targets`` (B, T) are given."""
        x = self._embed(idx, 0)  # (B, T, C)
        for block in self.h:
            x, _ = block(x)
        x = self.ln_f(x)  # (B, T, C)
        return self.crit(x, targets, output=output)

    @torch.no_grad()
    def decode_step(
        self, idx: torch.Tensor, cache: KVCache | None = None
    ) -> tuple[torch.Tensor, KVCache]:
        """Append ``idx`` (B, t) to ``cache``: the log-probs (B, 1, V) of the last position and
        a new cache. ``cache`` is not changed. Raises ConfigError("seq_len") past tgt_len."""
        start = 0 if cache is None else cache.length
        pasts = (None,) * len(self.h) if cache is None else cache.layers
        x = self._embed(idx, start)  # (B, t, C)
        presents = []
        for block, past in zip(self.h, pasts, strict=True):
            x, present = block(x, past)
            presents.append(present)
        x = self.ln_f(x[:, -1:, :])  # (B, 1, C)
        return self.crit(x, output="last"), KVCache(tuple(presents))
