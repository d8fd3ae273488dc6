"""Analytic proxies: parameter counts from the config alone (no torch, microseconds)."""

from __future__ import annotations

from typing import Any

from lts.shared.config import ArchConfig
from lts.shared.params import count_params, decoder_params


def decoder_params_proxy(cfg: ArchConfig, **_opts: Any) -> float:
    """Decoder (non-embedding) parameters, the paper's perplexity proxy (higher is better).

    Equals the published tables' ``params.nonembedding`` (see :mod:`lts.shared.params`). Options
    are accepted and ignored, so every proxy can be called the same way.
    """
    return float(decoder_params(cfg))


def total_params_proxy(cfg: ArchConfig, **_opts: Any) -> float:
    """Every unique parameter: decoder, adaptive embedding and softmax (higher is better)."""
    return float(count_params(cfg).total)
