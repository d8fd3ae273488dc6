"""Perplexity proxies: a registry of name -> function of an architecture.

A proxy scores an :class:`~lts.shared.config.ArchConfig` without training it; the search ranks
candidates by it and ``controller proxy-eval`` checks it against tables of trained models.

Built in (see ``docs/proxies.md`` for definitions, inputs and cost):

* ``decoder_params`` (the default, the paper's proxy) and ``total_params``: exact counts from
  the config alone (:mod:`lts.shared.params`); microseconds, no torch.
* the low-cost proxies the paper compared against, computed on the PyTorch model built with
  random initialisation and fed seeded random token ids (no dataset): ``grad_norm``, ``snip``,
  ``grasp``, ``fisher``, ``synflow`` (Abdelfattah et al., 2021), ``jacob_cov`` and
  ``relu_log_det`` (Mellor et al., 2021). The embedding lookup is left out of every score.

Importing this package never imports torch: the low-cost proxies live in submodules that are
imported when one of them is first called. The registry is a module-level dict; registering is
not thread-safe, looking up is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lts.controller.proxies.analytic import decoder_params_proxy, total_params_proxy
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError

ProxyFn = Callable[..., float]

#: The proxy a search uses unless told otherwise.
DEFAULT_PROXY = "decoder_params"


@dataclass(frozen=True)
class Proxy:
    """One registered proxy.

    ``fn(cfg, **opts) -> float`` computes the score (deterministic for a given ``cfg`` and
    options). ``higher_is_better``: a higher score predicts a lower perplexity. ``needs_torch``:
    the proxy builds the model (and imports torch on first use). ``cost``: what one call costs,
    in words (passes, input size, FLOPs where known).
    """

    name: str
    fn: ProxyFn
    needs_torch: bool
    cost: str
    higher_is_better: bool = True
    description: str = ""

    def __call__(self, cfg: ArchConfig, **opts: Any) -> float:
        return self.fn(cfg, **opts)


_REGISTRY: dict[str, Proxy] = {}


def register_proxy(proxy: Proxy, *, replace: bool = False) -> None:
    """Add ``proxy`` to the registry (an existing name needs ``replace=True``)."""
    if proxy.name in _REGISTRY and not replace:
        raise ConfigError("proxies", f"a proxy named {proxy.name!r} is already registered")
    _REGISTRY[proxy.name] = proxy


def get_proxy(name: str) -> Proxy:
    """The proxy registered as ``name``; :class:`ConfigError` (field ``proxies``) if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise ConfigError("proxies", f"unknown proxy {name!r}; known: {known}") from None


def list_proxies() -> list[Proxy]:
    """Every registered proxy, in registration order (the default first)."""
    return list(_REGISTRY.values())


def _lazy(module: str, func: str) -> ProxyFn:
    """A proxy function that imports ``lts.controller.proxies.<module>`` (and so torch) when
    called."""

    def run(cfg: ArchConfig, **opts: Any) -> float:
        impl = importlib.import_module(f"lts.controller.proxies.{module}")
        return getattr(impl, func)(cfg, **opts)

    run.__name__ = func
    run.__qualname__ = func
    run.__doc__ = f"Lazily calls :func:`lts.controller.proxies.{module}.{func}`."
    return run


_BUILD = "one model build with random init (about 0.05-1.5 s on a CPU, growing with the embedding)"
_TOKENS = "4 x 32 random tokens"
_LOSS_COST = (
    f"{_BUILD}; 1 forward + 1 backward on {_TOKENS} (about 6 x P x 128 FLOPs in the decoder, "
    "P its parameters, plus the adaptive softmax over the whole vocabulary at every position)"
)

_BUILTINS: tuple[Proxy, ...] = (
    Proxy(
        "decoder_params",
        decoder_params_proxy,
        needs_torch=False,
        cost="analytic, from the config: a few microseconds, no model built",
        description="decoder (non-embedding) parameters: attention, feed-forward, layer norms",
    ),
    Proxy(
        "total_params",
        total_params_proxy,
        needs_torch=False,
        cost="analytic, from the config: a few microseconds, no model built",
        description="every unique parameter: decoder, adaptive embedding and softmax",
    ),
    Proxy(
        "grad_norm",
        _lazy("pruning", "grad_norm"),
        needs_torch=True,
        cost=_LOSS_COST,
        description="sum over decoder weight matrices of the L2 norm of the loss gradient",
    ),
    Proxy(
        "snip",
        _lazy("pruning", "snip"),
        needs_torch=True,
        cost=_LOSS_COST,
        description="sum |w * dL/dw| over decoder weight matrices (Lee et al., 2019)",
    ),
    Proxy(
        "grasp",
        _lazy("pruning", "grasp"),
        needs_torch=True,
        cost=f"{_BUILD}; 1 forward, 1 backward keeping its graph and 1 double backward on "
        f"{_TOKENS} (about 3 x grad_norm's FLOPs; attention on torch's math kernel)",
        description="sum -w * (H g) over decoder weight matrices (Wang et al., 2020)",
    ),
    Proxy(
        "fisher",
        _lazy("pruning", "fisher"),
        needs_torch=True,
        cost=_LOSS_COST,
        description="per-channel Fisher information of the decoder linear layers' outputs",
    ),
    Proxy(
        "synflow",
        _lazy("pruning", "synflow"),
        needs_torch=True,
        cost=f"{_BUILD} in float64; 1 forward + 1 backward on 1 x 32 random tokens in float64 "
        "(about 6 x P x 32 FLOPs) and the logits of the 32 positions",
        description="sum |w * dR/dw|, R the summed logits with |weights| (Tanaka et al., 2020)",
    ),
    Proxy(
        "jacob_cov",
        _lazy("activation", "jacob_cov"),
        needs_torch=True,
        cost=f"{_BUILD}; 1 forward + 1 backward to the inputs on 32 x 8 random tokens "
        "(about 4 x P x 256 FLOPs), the last position's logits, a 32 x 32 eigendecomposition",
        description="Jacobian covariance score of the decoder (Mellor et al., 2021, v1)",
    ),
    Proxy(
        "relu_log_det",
        _lazy("activation", "relu_log_det"),
        needs_torch=True,
        cost=f"{_BUILD}; 1 forward without gradients on 8 x 32 random tokens (about "
        "2 x P x 256 FLOPs, no softmax) and a 256 x 256 log-determinant",
        description="log |det K| of the feed-forward activation-pattern kernel (Mellor, v2)",
    ),
)

for _proxy in _BUILTINS:
    register_proxy(_proxy)

__all__ = [
    "DEFAULT_PROXY",
    "Proxy",
    "ProxyFn",
    "get_proxy",
    "list_proxies",
    "register_proxy",
]
