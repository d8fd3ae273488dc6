"""Analytic cost features of an architecture under measurement settings (no torch;
microseconds per config): what a linear cost model of a device predicts latency and peak
memory from (the controller's online cost model, a simulated agent).

Both quantities are sums of costs a CPU or GPU pays per operation:

* latency (``prefill``, ``decode``): a constant, per-layer and per-head overheads (operator
  dispatch), the multiply-accumulates of the projections and feed-forward layers, of the
  attention scores (quadratic in the positions attended), of the output layer (the adaptive
  softmax, for the positions that ``output`` asks for) and the bytes of weights read once per
  forward pass; ``prefill`` counts ``seq_len`` new positions, ``decode`` one position after a
  cache of ``seq_len - 1``;
* peak memory (``memory``): a constant, the weights' bytes, the live activations of the widest
  layer, the output's log-probabilities and (``decode`` settings) the key/value cache.

:data:`FEATURES` names each kind's features; :func:`features` computes them. The kinds are
those the objectives declare (:attr:`lts.shared.objectives.Objective.features`).
"""

from __future__ import annotations

import numpy as np

from lts.shared.config import ArchConfig
from lts.shared.params import count_params
from lts.shared.schemas import MeasureSettings

BYTES = 4  # float32
MB = float(2**20)

LATENCY_FEATURES = ("const", "layers", "heads", "linear_macs", "attn_macs", "output_macs",
                    "weight_bytes")  # fmt: skip
MEMORY_FEATURES = ("const", "weight_bytes", "activation_bytes", "output_bytes", "cache_bytes")

#: The feature names of each kind.
FEATURES: dict[str, tuple[str, ...]] = {
    "prefill": LATENCY_FEATURES,
    "decode": LATENCY_FEATURES,
    "memory": MEMORY_FEATURES,
}


def features(kind: str, cfg: ArchConfig, settings: MeasureSettings) -> np.ndarray:
    """The features of ``kind`` (see :data:`FEATURES`) of ``cfg`` measured under
    ``settings``; ``prefill`` and ``decode`` time that metric whatever ``settings.metric``
    says."""
    if kind == "prefill":
        return latency_features(cfg, settings.model_copy(update={"metric": "prefill"}))
    if kind == "decode":
        return latency_features(cfg, settings.model_copy(update={"metric": "decode"}))
    if kind == "memory":
        return memory_features(cfg, settings)
    raise ValueError(f"unknown cost feature kind {kind!r}; choose from {', '.join(FEATURES)}")


def _positions(settings: MeasureSettings) -> tuple[int, int, int]:
    """(new positions per sequence, positions attended, softmax rows per sequence)."""
    t = settings.seq_len
    if settings.metric == "decode":
        return 1, t, 1
    return t, t, t if settings.output == "all" else 1


def _output_macs_per_row(cfg: ArchConfig) -> int:
    """Multiply-accumulates of the adaptive softmax for one position: every cluster's table
    and projection (the embedding's parameters less GPT-2's position table)."""
    counts = count_params(cfg)
    positions = cfg.tgt_len * cfg.d_model if cfg.backbone == "gpt2" else 0
    return counts.embedding - positions


def latency_features(cfg: ArchConfig, settings: MeasureSettings) -> np.ndarray:
    """The latency features of ``cfg`` measured under ``settings`` (see the module doc)."""
    new, keys, rows = _positions(settings)
    b = settings.batch_size
    d = cfg.d_model
    linear = attn = 0
    for layer in range(cfg.n_layer):
        width = cfg.attn_dim(layer)
        linear += 4 * d * width + 2 * d * cfg.d_inner[layer]
        attn += 2 * keys * width
    counts = count_params(cfg)
    return np.array(
        [
            1.0,
            float(cfg.n_layer),
            float(sum(cfg.n_head)),
            float(b * new * linear),
            float(b * new * attn),
            float(b * rows * _output_macs_per_row(cfg)),
            float(BYTES * counts.total),
        ]
    )


def memory_features(cfg: ArchConfig, settings: MeasureSettings) -> np.ndarray:
    """The peak-memory features of ``cfg`` under ``settings``, in MiB."""
    new, keys, rows = _positions(settings)
    b = settings.batch_size
    d = cfg.d_model
    widest = 0
    for layer in range(cfg.n_layer):
        width = cfg.attn_dim(layer)
        per_position = 6 * d + 6 * width + 2 * cfg.d_inner[layer]
        scores = cfg.n_head[layer] * new * keys
        widest = max(widest, per_position * max(new, keys) + scores)
    cache = 0
    if settings.metric == "decode":
        cache = sum(2 * cfg.attn_dim(i) for i in range(cfg.n_layer)) * keys
    return np.array(
        [
            1.0,
            BYTES * count_params(cfg).total / MB,
            BYTES * b * widest / MB,
            BYTES * b * rows * cfg.n_token / MB,
            BYTES * b * cache / MB,
        ]
    )
