"""Optuna's multi-objective TPE (``tpe``): a density model of the good architectures.

Each iteration rebuilds an in-memory Optuna study from every told point (one COMPLETE trial
each, its objective vector as values, in the objectives' senses) and asks it for
``population`` candidates with :class:`optuna.samplers.TPESampler` (independent TPE, Optuna's
default for several objectives) in constant-liar mode: a proposal stays a RUNNING trial until
the iteration ends, so the candidates of one batch spread out instead of piling up.

The space is encoded define-by-run, as :mod:`lts.shared.space` defines it: ``n_layer``,
``d_model``, ``d_embed`` and ``div_val`` as the index into their value sets, then one
``n_head_i`` / ``d_inner_i`` per layer ``i < n_layer`` (conditional parameters: TPE models
each from the trials that have it), or one ``n_head`` / ``d_inner`` for a homogeneous space.
A sampled ``n_head`` that does not divide ``d_model`` or a ``d_inner`` below its bound is
resampled uniformly among the allowed values with the injected generator, exactly as
:func:`operators.mutate` repairs them; the study is told the repaired architecture (the told
trials are rebuilt from the configs), so TPE learns from what was measured. A candidate that is
outside the decoder-parameter bounds is told as infeasible for the rest of the iteration (its
relative excess as Optuna's constraint, so TPE learns to stay inside), a repeat is told FAIL
(TPE ignores it); either is asked again, up to ``tries_per_child`` times per wanted candidate,
and a shortfall is filled with random architectures. Failed measurements and seeds outside the
space are not trials. A point over a limit carries its relative excess as Optuna's constraint
(infeasible).

Randomness: each iteration's sampler is seeded with one draw from the injected generator, so
the proposals depend only on the generator's state and the told history. Resume: the trials
are rebuilt from the told history (:meth:`observe` replays it: O(told) ``create_trial`` calls,
milliseconds per thousand) and the generator's state is restored; nothing else is kept.

Cost: TPE refits its density model for every ask, over every told trial and every parameter
(about 2 x ``n_layer`` + 4 of them), so its CPU time per candidate grows with the history:
see ``benchmarks/search_quality.py`` for the figures per 1,000 evaluations.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from lts.controller.search.algorithms.base import History, Point, SearchAlgorithm
from lts.controller.search.breeding import Proposal
from lts.shared.config import ArchConfig
from lts.shared.objectives import PROXY
from lts.shared.params import decoder_params
from lts.shared.space import SCALAR_GENES

logger = logging.getLogger(__name__)

#: The store's origin of a TPE proposal (no parents: a sample of the model).
ORIGIN = "tpe"


class TPESearch(SearchAlgorithm):
    """Optuna's multi-objective TPE with a constant liar (see the module doc)."""

    name = "tpe"
    #: More :class:`optuna.samplers.TPESampler` options (none: Optuna's defaults).
    sampler_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trials: list[Any] = []  # FrozenTrials of the told points, in order

    # -------------------------------------------------------------------------- encoding
    def _layer_names(self, n_layer: int) -> list[tuple[str, str]]:
        if self.space.homogeneous:
            return [("n_head", "d_inner")]
        return [(f"n_head_{i}", f"d_inner_{i}") for i in range(n_layer)]

    def _distributions(self, cfg: ArchConfig) -> dict[str, Any]:
        from optuna.distributions import IntDistribution

        out = {g: IntDistribution(0, len(getattr(self.space, g)) - 1) for g in SCALAR_GENES}
        for head, inner in self._layer_names(cfg.n_layer):
            out[head] = IntDistribution(0, len(self.space.n_head) - 1)
            out[inner] = IntDistribution(0, len(self.space.d_inner) - 1)
        return out

    def _params(self, cfg: ArchConfig) -> dict[str, int]:
        space = self.space
        out = {g: getattr(space, g).index(getattr(cfg, g)) for g in SCALAR_GENES}
        for i, (head, inner) in enumerate(self._layer_names(cfg.n_layer)):
            out[head] = space.n_head.index(cfg.n_head[i])
            out[inner] = space.d_inner.index(cfg.d_inner[i])
        return out

    def _suggest(self, trial: Any) -> ArchConfig:
        """The architecture a trial samples, repaired as the space's operators repair."""
        space = self.space
        genes = {
            g: getattr(space, g)[trial.suggest_int(g, 0, len(getattr(space, g)) - 1)]
            for g in SCALAR_GENES
        }
        d_model = genes["d_model"]
        heads, inner = space.heads_for(d_model), space.d_inner_for(d_model)
        n_head, d_inner = [], []
        for head, width in self._layer_names(genes["n_layer"]):
            h = space.n_head[trial.suggest_int(head, 0, len(space.n_head) - 1)]
            x = space.d_inner[trial.suggest_int(width, 0, len(space.d_inner) - 1)]
            n_head.append(h if h in heads else _uniform(heads, self.rng))
            d_inner.append(x if x in inner else _uniform(inner, self.rng))
        return space.make_config(genes["n_layer"], d_model, tuple(n_head), tuple(d_inner),
                                 genes["d_embed"], genes["div_val"])  # fmt: skip

    # ---------------------------------------------------------------------------- trials
    def observe(self, iteration: int, told: list[tuple[Proposal, Point | None]]) -> None:
        from optuna.trial import create_trial

        for _, pt in told:
            if pt is None or not self.space.contains(pt.cfg):
                continue
            constraints = None
            if self.bounds.limits:
                from lts.controller.search.algorithms.evolutionary import violation

                constraints = {"limits": violation(self, pt)}
            self._trials.append(
                create_trial(
                    params=self._params(pt.cfg),
                    distributions=self._distributions(pt.cfg),
                    values=[pt.values[n] for n in self.objectives.names],
                    constraints=constraints,
                )
            )

    def _study(self, seed: int) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True, **self.sampler_options)
        directions: list[Any] = [
            "maximize" if self.objectives.sense(n) == "max" else "minimize"
            for n in self.objectives.names
        ]
        study = optuna.create_study(directions=directions, sampler=sampler)
        study.add_trials(self._trials)
        return study

    # ---------------------------------------------------------------------------- search
    def propose(self, taken: set[str]) -> list[Proposal]:
        from optuna.trial import TrialState

        n = self.params.population
        seed = int(self.rng.integers(2**31 - 1))
        study = self._study(seed)
        out: list[Proposal] = []
        for _ in range(n * self.params.tries_per_child):
            if len(out) >= n:
                break
            trial = study.ask()
            cfg = self._suggest(trial)
            if self.breeder.acceptable(cfg, taken, self.seen):
                taken.add(cfg.arch_id)
                out.append(Proposal(cfg, ORIGIN))  # stays RUNNING: the constant liar
            elif not self.bounds.params_ok(decoder_params(cfg)):
                # infeasible for this iteration's model, so TPE learns to stay in the bounds
                trial.set_constraint("params", self._params_excess(cfg))
                study.tell(trial, self._worst(cfg))
            else:  # a repeat: nothing to learn
                study.tell(trial, state=TrialState.FAIL)
        if len(out) < n:
            out += self.breeder.random(n - len(out), taken, self.seen)
        return out

    def _params_excess(self, cfg: ArchConfig) -> float:
        """How far ``cfg``'s decoder parameters are outside the bounds, relatively (> 0)."""
        n, lo, hi = decoder_params(cfg), self.bounds.min_params, self.bounds.max_params
        if lo is not None and n < lo:
            return (lo - n) / lo
        return (n - hi) / hi if hi is not None and n > hi else 0.0

    def _worst(self, cfg: ArchConfig) -> list[float]:
        """Values for a candidate never measured: its proxy, and the worst told value of
        every measured objective (infeasible trials rank by their violation anyway)."""
        out = []
        for name in self.objectives.names:
            if name == PROXY:
                out.append(float(self.proxy(cfg)))
                continue
            told = [p.values[name] for p in self._points]
            worst = max if self.objectives.sense(name) == "min" else min
            out.append(worst(told) if told else 1.0)
        return out

    def load_state(self, state: Mapping[str, Any], history: History) -> None:
        """Restore (see :class:`SearchAlgorithm`); :meth:`observe` rebuilds the trials from
        the told history as it is replayed."""
        self._trials = []
        super().load_state(state, history)


def _uniform(values: tuple[int, ...], rng: Any) -> int:
    """A uniform value of ``values``: the draw :func:`operators.mutate` repairs with."""
    return values[int(rng.random() * len(values))]
