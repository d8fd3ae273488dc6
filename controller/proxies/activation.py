"""Proxies from Mellor et al., "Neural Architecture Search without Training" (ICML 2021):
``jacob_cov`` (the paper's first version, the Jacobian covariance score) and ``relu_log_det``
(the second version, the log-determinant of the activation-pattern kernel).

Both build ``cfg`` with random initialisation and run seeded random tokens through it (see
:mod:`lts.controller.proxies._torch` for the shared conventions). Higher is better for both. Each
call is deterministic for given arguments and leaves the caller's torch RNG state untouched.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lts.controller.proxies._torch import (
    SEED,
    SEQ_LEN,
    build_for_scoring,
    decoder_output,
    feed_forward_inputs,
    forward_hooks,
    logits_sum,
    random_inputs,
)
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError

#: jacob_cov's default: 32 sequences (its samples) of 8 tokens.
JACOB_BATCH = 32
JACOB_SEQ = 8
#: relu_log_det's default: 8 sequences of 32 tokens, 256 samples (kernel 256 x 256).
KERNEL_BATCH = 8
#: Mellor et al.'s regulariser of the correlation eigenvalues.
_EIG_EPS = 1e-5


def jacob_cov_score(jacobian: np.ndarray) -> float:
    """``-sum(log(v + k) + 1 / (v + k))`` over the eigenvalues ``v`` of the correlation matrix
    of the rows of ``jacobian`` (N, D), ``k = 1e-5`` (Mellor et al., v1)."""
    corr = np.corrcoef(jacobian)
    v = np.linalg.eigvalsh(corr)  # symmetric: real eigenvalues
    return float(-np.sum(np.log(v + _EIG_EPS) + 1.0 / (v + _EIG_EPS)))


def jacob_cov(
    cfg: ArchConfig,
    *,
    batch_size: int = JACOB_BATCH,
    seq_len: int = JACOB_SEQ,
    seed: int = SEED,
    device: str = "cpu",
) -> float:
    """Jacobian covariance of the decoder over ``batch_size`` random sequences.

    Each sequence is a sample: its Jacobian row is the gradient of the summed softmax logits of
    its last position (a causal model's prediction, which depends on every position) with
    respect to the decoder input, the embedding output (T x d_model values). The score is
    :func:`jacob_cov_score` of those rows (float64 correlation and eigenvalues).

    Cost: one build, one forward and one backward to the inputs (about 4 x decoder params x
    tokens FLOPs), the last position's logits over the vocabulary, an N x N eigendecomposition.
    """
    model, _ = build_for_scoring(cfg, seed, device)
    for p in model.parameters():
        p.requires_grad_(False)  # only the input needs a gradient here
    inputs = random_inputs(cfg, batch_size, seq_len, seed, device)
    leaf: list[torch.Tensor] = []

    def make_leaf(_module: nn.Module, _args: tuple[torch.Tensor, ...], out: torch.Tensor):
        x = out.detach().requires_grad_(True)  # (B, T, C): the decoder input
        leaf.append(x)
        return x

    with forward_hooks([model.word_emb], make_leaf):
        hidden = decoder_output(model, inputs.idx)  # (B, T, C)
    y = logits_sum(model, hidden[:, -1, :])
    (grad,) = torch.autograd.grad(y, leaf)
    jacobian = grad.reshape(batch_size, -1).double().cpu().numpy()  # (B, T * C)
    return jacob_cov_score(jacobian)


def relu_log_det(
    cfg: ArchConfig,
    *,
    batch_size: int = KERNEL_BATCH,
    seq_len: int = SEQ_LEN,
    seed: int = SEED,
    device: str = "cpu",
) -> float:
    """``log |det K|`` of the Hamming kernel of the feed-forward activation patterns.

    Every token position is a sample (N = batch_size x seq_len), as in the LTS authors'
    adaptation. Its binary code is the sign pattern (``> 0``) of the input of every
    feed-forward activation (ReLU in Transformer-XL, GELU in GPT-2: both are positive exactly
    where their input is), all layers concatenated. ``K = c c^T + (1 - c)(1 - c)^T`` counts the
    units on which two tokens agree; its rank is at most units + 1, so ConfigError is raised
    when there are more tokens than that. ``-inf`` (a failed score) if two codes coincide.

    Cost: one build, one forward without gradients (about 2 x decoder params x tokens FLOPs),
    an N x N log-determinant (N = 256 by default).
    """
    n = batch_size * seq_len
    units = sum(cfg.d_inner)
    if n > units + 1:
        raise ConfigError(
            "relu_log_det",
            f"{n} tokens but {units} feed-forward units: the kernel has rank <= units + 1 and "
            f"would be singular; use batch_size x seq_len <= {units + 1}",
        )
    model, _ = build_for_scoring(cfg, seed, device)
    inputs = random_inputs(cfg, batch_size, seq_len, seed, device)
    kernel = torch.zeros((n, n), dtype=torch.float64)

    def count(_module: nn.Module, _args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal kernel
        code = (out.reshape(n, -1) > 0).double().cpu()  # (N, units)
        kernel = kernel + code @ code.T + (1.0 - code) @ (1.0 - code).T

    with torch.no_grad(), forward_hooks(feed_forward_inputs(model), count):
        decoder_output(model, inputs.idx)
    _sign, logabsdet = torch.linalg.slogdet(kernel)
    return float(logabsdet)
