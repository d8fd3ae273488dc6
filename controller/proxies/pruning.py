"""Pruning-at-initialisation saliencies summed into architecture scores (Abdelfattah et al.,
"Zero-Cost Proxies for Lightweight NAS", ICLR 2021): grad_norm, snip, grasp, fisher, synflow.

Every function builds ``cfg`` with random initialisation and scores it on seeded random tokens (see
:mod:`lts.controller.proxies._torch` for the conventions: what is scored, how the embedding and the
softmax are treated). The loss ``L`` is the model's mean next-token NLL of random targets over all
``batch_size x seq_len`` positions. Higher is better for all five (as in the reference
implementation, which correlates the raw scores with accuracy). Each call is deterministic for given
arguments and leaves the caller's torch RNG state untouched; not thread-safe with other code that
changes torch's global settings mid-call.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from lts.controller.proxies._torch import (
    BATCH_SIZE,
    SEED,
    SEQ_LEN,
    build_for_scoring,
    decoder_output,
    forward_hooks,
    logits_sum,
    random_inputs,
)
from lts.shared.config import ArchConfig
from lts.shared.models.base import LanguageModel


def _loss_and_weights(
    cfg: ArchConfig, batch_size: int, seq_len: int, seed: int, device: str
) -> tuple[torch.Tensor, list[torch.Tensor], list[nn.Linear], LanguageModel]:
    model, layers = build_for_scoring(cfg, seed, device)
    inputs = random_inputs(cfg, batch_size, seq_len, seed, device)
    loss = model(inputs.idx, inputs.targets)  # scalar mean NLL
    return loss, [layer.weight for layer in layers], layers, model


def grad_norm(
    cfg: ArchConfig,
    *,
    batch_size: int = BATCH_SIZE,
    seq_len: int = SEQ_LEN,
    seed: int = SEED,
    device: str = "cpu",
) -> float:
    """Sum over the scored weight matrices ``W`` of ``||dL/dW||_2``.

    Cost: one build, one forward and one backward (about 6 x decoder params x tokens FLOPs).
    """
    loss, weights, _, _ = _loss_and_weights(cfg, batch_size, seq_len, seed, device)
    grads = torch.autograd.grad(loss, weights)
    return float(sum(g.norm() for g in grads))


def snip(
    cfg: ArchConfig,
    *,
    batch_size: int = BATCH_SIZE,
    seq_len: int = SEQ_LEN,
    seed: int = SEED,
    device: str = "cpu",
) -> float:
    """SNIP connection sensitivity summed: ``sum |W * dL/dW|`` over the scored weights.

    Cost: one build, one forward and one backward.
    """
    loss, weights, _, _ = _loss_and_weights(cfg, batch_size, seq_len, seed, device)
    grads = torch.autograd.grad(loss, weights)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads, strict=True)))


def grasp(
    cfg: ArchConfig,
    *,
    batch_size: int = BATCH_SIZE,
    seq_len: int = SEQ_LEN,
    seed: int = SEED,
    device: str = "cpu",
) -> float:
    """GraSP summed: ``sum -W * (H g)`` over the scored weights, ``g = dL/dW`` and ``H`` the
    Hessian of ``L`` (the Hessian-gradient product by double back-propagation of ``g . g``).

    Cost: one build, one forward, one backward with graph and one double backward (roughly
    4 x grad_norm's FLOPs, and the memory of the double-backward graph).
    """
    with sdpa_kernel(SDPBackend.MATH):  # the fused CPU attention has no double backward
        loss, weights, _, _ = _loss_and_weights(cfg, batch_size, seq_len, seed, device)
    grads = torch.autograd.grad(loss, weights, create_graph=True)
    products = [(g.detach() * g).sum() for g in grads]  # g . g, one term per weight
    z = sum(products[1:], products[0])
    hess_grads = torch.autograd.grad(z, weights)
    return float(sum((-w.detach() * hg).sum() for w, hg in zip(weights, hess_grads, strict=True)))


def fisher(
    cfg: ArchConfig,
    *,
    batch_size: int = BATCH_SIZE,
    seq_len: int = SEQ_LEN,
    seed: int = SEED,
    device: str = "cpu",
) -> float:
    """Fisher channel saliency summed over the outputs of the scored linear layers.

    For a layer output ``a`` (B, T, C) with gradient ``dL/da``: per channel ``c``,
    ``0.5 * mean_b (sum_t a[b,t,c] * dL/da[b,t,c])^2`` (token positions play the role of a
    convolution's spatial positions), summed over channels and layers.

    Cost: one build, one forward and one backward.
    """
    model, layers = build_for_scoring(cfg, seed, device)
    inputs = random_inputs(cfg, batch_size, seq_len, seed, device)
    total = torch.zeros((), dtype=torch.float64)

    def on_grad(act: torch.Tensor) -> object:
        def hook(grad: torch.Tensor) -> None:
            nonlocal total
            per_channel = (act * grad).sum(dim=1)  # (B, C)
            total = total + 0.5 * per_channel.double().pow(2).mean(dim=0).sum().cpu()

        return hook

    def keep(_module: nn.Module, _args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        out.register_hook(on_grad(out.detach()))

    with forward_hooks(layers, keep):
        loss = model(inputs.idx, inputs.targets)
    loss.backward()
    return float(total)


def synflow(
    cfg: ArchConfig,
    *,
    seq_len: int = SEQ_LEN,
    seed: int = SEED,
    device: str = "cpu",
    batch_size: int = 1,
) -> float:
    """SynFlow (Tanaka et al., 2020) summed: ``sum |W * dR/dW|`` over the scored weights.

    In float64 with every parameter replaced by its absolute value, ``R`` is the sum of the
    softmax logits over every position of one sequence of ``seq_len`` random tokens.
    Differences from the image-model recipe, both forced by layer norm: the input is the
    (absolute-valued) embedding of random tokens rather than a vector of ones, and ``R`` is taken
    at the logits rather than at the decoder output, because a layer norm maps a constant vector
    to its bias (zero at initialisation) and its unit-weight output always sums to zero, which
    would make every score 0.

    Cost: one float64 build and one forward and backward on ``batch_size x seq_len`` tokens
    (about 6 x decoder params x 32 FLOPs in float64) plus the logits over the vocabulary.
    """
    model, layers = build_for_scoring(cfg, seed, device, dtype=torch.float64)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.abs_()
    inputs = random_inputs(cfg, batch_size, seq_len, seed, device)
    hidden = decoder_output(model, inputs.idx)  # (B, T, C)
    r = logits_sum(model, hidden.reshape(-1, hidden.size(-1)))
    weights = [layer.weight for layer in layers]
    grads = torch.autograd.grad(r, weights)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads, strict=True)))
