"""What the low-cost proxies share: seeded inputs, the model prepared for scoring, the scored
layers, and the decoder output. Imports torch (only imported when a low-cost proxy runs).

Conventions every low-cost proxy follows:

* The model is built by :func:`lts.shared.models.build_model` with ``init="random"`` under a fixed
  seed (the caller's torch RNG state is left untouched) and kept in eval mode (no dropout: the
  models have none, and eval mode makes every score deterministic).
* Inputs are random token ids from a seeded generator, no dataset, all distinct (when the
  vocabulary allows): at random initialisation a position's representation depends mostly on
  its own token, so a repeated token would give two near-identical samples (a singular kernel
  for relu_log_det, a duplicate Jacobian row for jacob_cov).
* The embedding lookup (token tables, their projections, GPT-2's learned positions) is left out
  of every score: no embedding parameter requires a gradient, so no gradient reaches the
  lookup and none of its parameters is scored; its output is the decoder's (constant) input.
* Scored parameters are the weight matrices of the decoder's linear layers, found through the
  model's ``param_groups()`` (attention and feed-forward modules), whatever the backbone names
  them (GPT-2's attention: ``c_attn``/``c_proj``; Transformer-XL's: ``qkv_net``/``r_net``/
  ``o_net``; both feed-forwards: ``c_fc``/``c_proj``): the layers Abdelfattah et al. score
  (``nn.Linear``; biases, layer norms and Transformer-XL's ``r_w_bias``/``r_r_bias`` are not
  scored).
* The adaptive softmax is never scored (its weights are the embedding tables when tied), but it
  is in the graph: the loss-based proxies back-propagate the language-model loss through it,
  and the output-based ones (synflow, jacob_cov) take its logits (before the log-softmax) as
  the network's output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from lts.shared.config import ArchConfig
from lts.shared.models import build_model
from lts.shared.models.base import LanguageModel

ForwardHook = Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]

#: Defaults of the loss-based proxies (grad_norm, snip, grasp, fisher): 4 sequences of 32
#: tokens (32 is the shortest position table in the published tables); seed 0; the CPU.
BATCH_SIZE = 4
SEQ_LEN = 32
SEED = 0


@dataclass(frozen=True)
class Inputs:
    """Token ids ``idx`` and next-token ``targets``, both (B, T) int64."""

    idx: torch.Tensor
    targets: torch.Tensor


def random_inputs(
    cfg: ArchConfig, batch_size: int, seq_len: int, seed: int, device: str | torch.device
) -> Inputs:
    """Seeded uniform random token ids, all distinct when the vocabulary has at least
    ``batch_size x seq_len`` tokens (otherwise drawn with replacement, the first column still
    distinct when ``n_token >= batch_size``), and uniform random targets."""
    gen = torch.Generator().manual_seed(seed)
    n = batch_size * seq_len
    if cfg.n_token >= n:
        idx = torch.randperm(cfg.n_token, generator=gen)[:n].view(batch_size, seq_len)
    else:
        idx = torch.randint(0, cfg.n_token, (batch_size, seq_len), generator=gen)  # (B, T)
        if cfg.n_token >= batch_size:
            idx[:, 0] = torch.randperm(cfg.n_token, generator=gen)[:batch_size]
    targets = torch.randint(0, cfg.n_token, (batch_size, seq_len), generator=gen)  # (B, T)
    return Inputs(idx.to(device), targets.to(device))


def build_for_scoring(
    cfg: ArchConfig,
    seed: int,
    device: str | torch.device,
    dtype: torch.dtype | None = None,
) -> tuple[LanguageModel, list[nn.Linear]]:
    """The randomly initialised model (seeded, eval mode) and its scored linear layers.

    Only the scored layers' weights require a gradient; every other parameter (embedding,
    softmax, biases, layer norms) is frozen, which leaves the embedding lookup out of the graph
    and saves the weight gradients of the large softmax tables.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(cfg, init="random", device=device, dtype=dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    layers = scored_linears(model)
    for layer in layers:
        layer.weight.requires_grad_(True)
    return model, layers


def scored_linears(model: LanguageModel) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of the decoder's attention and feed-forward modules."""
    groups = model.param_groups()
    return [
        m
        for group in ("attention", "feed_forward")
        for module in groups[group]
        for m in module.modules()
        if isinstance(m, nn.Linear)
    ]


def feed_forward_inputs(model: LanguageModel) -> list[nn.Linear]:
    """The first linear layer of every feed-forward module (its output is the activation's
    input: ``c_fc``)."""
    layers = []
    for module in model.param_groups()["feed_forward"]:
        first = next(m for m in module.modules() if isinstance(m, nn.Linear))
        layers.append(first)
    return layers


class _Captured(Exception):
    """Raised by a hook to stop the forward pass once the decoder output is known."""

    def __init__(self, hidden: torch.Tensor) -> None:
        super().__init__("decoder output captured")
        self.hidden = hidden


def decoder_output(model: LanguageModel, idx: torch.Tensor) -> torch.Tensor:
    """The final hidden states (B, T, d_model) that the softmax reads, without running it."""

    def stop(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        raise _Captured(args[0])

    handle = model.crit.register_forward_pre_hook(stop)
    try:
        model(idx)
    except _Captured as captured:
        return captured.hidden
    finally:
        handle.remove()
    raise RuntimeError("the model never called its softmax")  # pragma: no cover


def logits_sum(model: LanguageModel, hidden: torch.Tensor) -> torch.Tensor:
    """Sum of the adaptive softmax's logits (head, cluster and tail logits, before the
    log-softmax) over every row of ``hidden`` (N, d_model): the scalar network output."""
    head, tails = model.crit._logits(hidden)  # (N, b[1] + n_tail), [(N, size_i)]
    total = head.sum()
    for tail in tails:
        total = total + tail.sum()
    return total


@contextmanager
def forward_hooks(modules: Sequence[nn.Module], hook: ForwardHook) -> Iterator[None]:
    """Register ``hook`` as a forward hook on every module for the duration of the block."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
