"""The search's variation operators on a :class:`~lts.shared.space.SearchSpace`: random sampling,
mutation and uniform crossover.

Promises: every config that :func:`sample`, :func:`mutate` and :func:`crossover` return is
valid and the space :meth:`~lts.shared.space.SearchSpace.contains` it; all their randomness comes
from the ``numpy.random.Generator`` passed in (same generator state, same result).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.space import SCALAR_GENES, SearchSpace


def sample(space: SearchSpace, rng: np.random.Generator) -> ArchConfig:
    """A random architecture: each gene uniform over the values allowed where it is drawn
    (n_head and d_inner among those allowed at the drawn d_model)."""
    u = rng.random(4).tolist()
    n_layer = _at(space.n_layer, u[0])
    d_model = _at(space.d_model, u[1])
    d_embed = _at(space.d_embed, u[2])
    div_val = _at(space.div_val, u[3])
    n_genes = 1 if space.homogeneous else n_layer
    heads, inner = space.heads_for(d_model), space.d_inner_for(d_model)
    n_heads, n_inner = len(heads), len(inner)
    v = rng.random(2 * n_genes).tolist()
    n_head = tuple([heads[int(x * n_heads)] for x in v[:n_genes]])  # see _at
    d_inner = tuple([inner[int(x * n_inner)] for x in v[n_genes:]])
    return space.make_config(n_layer, d_model, n_head, d_inner, d_embed, div_val)


def mutate(
    space: SearchSpace, cfg: ArchConfig, rng: np.random.Generator, prob: float
) -> ArchConfig:
    """A mutant of ``cfg``: each gene is resampled with probability ``prob``.

    A resampled gene takes a value different from its current one (so ``prob`` 1 changes
    every gene that has an alternative; ``prob`` 0 returns ``cfg`` itself). Genes, in
    order: n_layer, d_model, d_embed, div_val, then each layer's n_head and d_inner (one of
    each when homogeneous). Layers added by a larger n_layer get sampled genes; after a
    d_model change, an n_head that does not divide it or a d_inner below its bound is
    resampled. Raises :class:`ConfigError` if ``cfg`` is not in the space or ``prob`` is
    outside [0, 1].
    """
    space.require(cfg, "arch")
    if isinstance(prob, bool) or not 0.0 <= prob <= 1.0:
        raise ConfigError("prob", f"must be a probability in [0, 1], got {prob!r}")
    if prob == 0.0:
        return cfg
    coins = (rng.random(4) < prob).tolist()
    n_layer = _other(space.n_layer, cfg.n_layer, rng) if coins[0] else cfg.n_layer
    d_model = _other(space.d_model, cfg.d_model, rng) if coins[1] else cfg.d_model
    d_embed = _other(space.d_embed, cfg.d_embed, rng) if coins[2] else cfg.d_embed
    div_val = _other(space.div_val, cfg.div_val, rng) if coins[3] else cfg.div_val
    n_genes = 1 if space.homogeneous else n_layer
    n_head = _mutate_layers(cfg.n_head, space.heads_for(d_model), n_genes, prob, rng)
    d_inner = _mutate_layers(cfg.d_inner, space.d_inner_for(d_model), n_genes, prob, rng)
    return space.make_config(n_layer, d_model, n_head, d_inner, d_embed, div_val)


def crossover(
    space: SearchSpace, a: ArchConfig, b: ArchConfig, rng: np.random.Generator
) -> ArchConfig:
    """A child of ``a`` and ``b`` by uniform crossover: every gene from either parent.

    n_layer, d_model, d_embed and div_val each come from ``a`` or ``b`` with probability
    1/2. Layer ``i``'s n_head and d_inner come from either parent's layer ``i`` (the one
    that has it, when only one does), among the values valid at the child's d_model; when
    neither is valid, from any layer of either parent (the parent whose d_model the child
    took always offers one). Raises :class:`ConfigError` if a parent is not in the space.
    """
    space.require(a, "a")
    space.require(b, "b")
    u = rng.random(4).tolist()
    n_layer, d_model, d_embed, div_val = (
        getattr(a if x < 0.5 else b, name) for x, name in zip(u, SCALAR_GENES, strict=True)
    )
    n_genes = 1 if space.homogeneous else n_layer
    n_head = _cross_layers(a.n_head, b.n_head, space.heads_for(d_model), n_genes, rng)
    d_inner = _cross_layers(a.d_inner, b.d_inner, space.d_inner_for(d_model), n_genes, rng)
    return space.make_config(n_layer, d_model, n_head, d_inner, d_embed, div_val)


def _mutate_layers(
    genes: tuple[int, ...],
    allowed: tuple[int, ...],
    n_genes: int,
    prob: float,
    rng: np.random.Generator,
) -> tuple[int, ...]:
    kept = genes[:n_genes]
    coins = (rng.random(len(kept)) < prob).tolist()
    out = []
    for value, coin in zip(kept, coins, strict=True):
        if coin:
            value = _other(allowed, value, rng)
        elif value not in allowed:
            value = _at(allowed, rng.random())
        out.append(value)
    out.extend(_at(allowed, x) for x in rng.random(n_genes - len(kept)).tolist())
    return tuple(out)


def _at(values: Sequence[int], u: float) -> int:
    """The value at uniform position ``u`` in [0, 1) (a ``Generator.random()`` draw).

    ``int(u * n) < n`` always holds: ``u <= 1 - 2**-53``, and the rounded product of such a
    ``u`` and an integer ``n < 2**52`` stays below ``n``.
    """
    return values[int(u * len(values))]


def _other(values: tuple[int, ...], current: int, rng: np.random.Generator) -> int:
    """A uniform value of ``values`` other than ``current`` (``current`` if it is the only one;
    any value if ``current`` is not among them)."""
    if current not in values:
        return _at(values, rng.random())
    if len(values) == 1:
        return current
    i = int(rng.random() * (len(values) - 1))
    return values[i + (i >= values.index(current))]


def _cross_layers(
    a: tuple[int, ...],
    b: tuple[int, ...],
    allowed: tuple[int, ...],
    n_genes: int,
    rng: np.random.Generator,
) -> tuple[int, ...]:
    fallback = sorted({*a, *b}.intersection(allowed))
    out = []
    for i, u in enumerate(rng.random(n_genes).tolist()):
        choices = [p[i] for p in (a, b) if i < len(p) and p[i] in allowed] or fallback
        out.append(_at(choices, u))
    return tuple(out)
