"""A conservative estimate, made before building, of the memory a measurement needs.

The agent refuses a candidate whose estimate exceeds its memory budget, so the estimate must
not be below what measuring it really takes. It bounds both processes of a measurement: the
latency worker's resident-memory growth (for ONNX Runtime that includes the torch model, the
export and the session) and the memory pass (``peak_memory_mb``). Unit: MiB (2**20 bytes).

Terms (float32, 4 bytes per element):

* weights ``W = 4 * count_params(cfg).total``; torch holds them once; the ONNX Runtime path
  holds up to :data:`ORT_WEIGHT_COPIES` copies at its peak, in the latency worker during the
  export (the torch model, the traced graph's constants, the serialised protobuf; measured
  on x86-64 Linux: 4.5 W at 50 MB, 4.3 W at 184 MB and 872 MB of weights) -- the session
  itself needs about 1.1-1.8 W;
* the output: ``B x T_out x n_token`` log-probabilities (``T_out`` = seq_len for
  ``output="all"`` prefill, else 1), times :data:`SOFTMAX_COPIES` for the adaptive softmax's
  logits, per-cluster log-softmaxes and the concatenation alive together;
* activations of the widest layer: the residual stream and its norms, the q/k/v and attention
  outputs, the feed-forward's hidden width twice, and the attention scores (Transformer-XL
  materialises them several times; GPT-2's fused attention does not, counted anyway);
* for ``decode``: the prefilled cache, twice (the cache and the new one of each step);
* a fixed runtime overhead (allocator, thread pools, library scratch) per runtime.

The sum is multiplied by :data:`SAFETY` and rounded up. A test checks it against measured
peaks for models of several sizes.
"""

from __future__ import annotations

import math

from lts.shared.backbones import get_backbone
from lts.shared.config import ArchConfig
from lts.shared.params import count_params
from lts.shared.schemas import MeasureSettings

MB = float(2**20)
BYTES = 4
ORT_WEIGHT_COPIES = 4.5
SOFTMAX_COPIES = 4.0
SAFETY = 1.25
OVERHEAD_MB = {"torch": 64.0, "onnxruntime": 128.0}


def _activation_bytes(cfg: ArchConfig, settings: MeasureSettings, tokens: int, keys: int) -> int:
    """Live activations of the widest layer for ``tokens`` new positions attending to
    ``keys`` positions (per sequence; multiplied by the batch size here)."""
    widest = 0
    for layer in range(cfg.n_layer):
        attn = cfg.attn_dim(layer)
        per_token = 6 * cfg.d_model + 6 * attn + 2 * cfg.d_inner[layer]
        scores = 6 * cfg.n_head[layer] * tokens * keys
        widest = max(widest, per_token * max(tokens, keys) + scores)
    embed = (2 + cfg.n_clusters) * cfg.d_model * max(tokens, keys)
    return BYTES * settings.batch_size * (widest + embed)


def _cache_bytes(cfg: ArchConfig, settings: MeasureSettings) -> int:
    """The decode cache at the step: the backbone's cache width for every position the step
    attends to (GPT-2: keys and values of the sequence; XL: the memory and the new input)."""
    backbone = get_backbone(cfg.backbone)
    length = backbone.decode_keys(cfg, settings.seq_len)
    return BYTES * settings.batch_size * length * backbone.cache_width(cfg)


def estimate_memory_mb(cfg: ArchConfig, settings: MeasureSettings) -> float:
    """Conservative memory (MiB) that measuring ``cfg`` under ``settings`` needs.

    Pure arithmetic on the config (no torch, microseconds); see the module docstring for
    what it covers. ``math.inf`` for a model too large to count in a float. On CUDA it
    bounds device memory for the torch runtime the same way.
    """
    weights = BYTES * count_params(cfg).total
    copies = ORT_WEIGHT_COPIES if settings.runtime == "onnxruntime" else 1.0
    t = settings.seq_len
    if settings.metric == "prefill":
        rows = t if settings.output == "all" else 1
        acts = _activation_bytes(cfg, settings, t, t)
        cache = 0
    else:
        rows = 1
        # The prefill of the cache (last position only through the softmax), then one step.
        keys = get_backbone(cfg.backbone).decode_keys(cfg, t)
        acts = max(
            _activation_bytes(cfg, settings, t, t), _activation_bytes(cfg, settings, 1, keys)
        )
        cache = 2 * _cache_bytes(cfg, settings)
    output = SOFTMAX_COPIES * BYTES * settings.batch_size * rows * cfg.n_token
    try:
        total = copies * weights + acts + cache + output
        mb = SAFETY * total / MB + OVERHEAD_MB[settings.runtime]
    except OverflowError:  # more bytes than a float counts: over any budget
        return math.inf
    return float(math.ceil(mb)) if math.isfinite(mb) else math.inf
