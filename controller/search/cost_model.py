"""An online cost model of one device: latency and peak memory predicted from the config.

Features are computed analytically from the architecture and the measurement settings (no
torch, microseconds per config); a non-negative linear model on them is refit as
measurements arrive. Both quantities are sums of costs a CPU or GPU pays per operation:

* latency: a constant, per-layer and per-head overheads (operator dispatch), the
  multiply-accumulates of the projections and feed-forward layers, of the attention scores
  (quadratic in the positions attended), of the output layer (the adaptive softmax, for the
  positions that ``output`` asks for) and the bytes of weights read once per forward pass;
  ``prefill`` counts ``seq_len`` new positions, ``decode`` one position after a cache of
  ``seq_len - 1``;
* peak memory: a constant, the weights' bytes, the live activations of the widest layer, the
  output's log-probabilities and (``decode``) the key/value cache.

The fit minimises the *relative* squared error (each row divided by its measured value) under
non-negative coefficients (``scipy.optimize.nnls``), so small and large models count alike and
no cost can be negative.

The error estimate is honest: every prediction the search relies on is later scored against
the measurement it predicted, made by a model that was not fitted on it (*prequential*
error: predict, then measure, then refit). Before any such score exists, a leave-one-out
estimate on the fitted data stands in. :meth:`CostModel.margin` turns these into the margin
the screening and racing rules use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from lts.shared.config import ArchConfig
from lts.shared.costs import (
    LATENCY_FEATURES,
    MEMORY_FEATURES,
    latency_features,
    memory_features,
)
from lts.shared.schemas import MeasureSettings

#: Fewest measurements a model is fitted on (below it, it predicts nothing).
MIN_FIT = 12
#: Fewest held-out scores before a margin rests on them (else the leave-one-out estimate).
MIN_SCORED = 20
#: The margin is this quantile of the absolute relative errors, within [MARGIN_FLOOR, MARGIN_CAP].
MARGIN_QUANTILE = 0.95
MARGIN_FLOOR = 0.03
MARGIN_CAP = 0.5
#: Held-out errors kept (the most recent): the model improves as it sees more data.
KEEP_SCORES = 400



@dataclass
class LinearModel:
    """Non-negative least squares on relative error, over one set of features."""

    names: tuple[str, ...]
    coef: np.ndarray | None = None
    scale: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        return self.coef is not None

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit on rows ``x`` (n x features) and positive targets ``y``; needs :data:`MIN_FIT`."""
        if len(y) < MIN_FIT:
            self.coef = self.scale = None
            return
        self.coef, self.scale = _fit(x, y)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.coef is None or self.scale is None:
            raise RuntimeError("the model is not fitted")
        return np.atleast_2d(x) @ (self.coef / self.scale)

    def loo_errors(self, x: np.ndarray, y: np.ndarray, limit: int = 200) -> list[float]:
        """Leave-one-out absolute relative errors on (up to ``limit`` of) the rows."""
        n = len(y)
        if n <= MIN_FIT:
            return []
        step = max(1, n // limit)
        out = []
        for i in range(0, n, step):
            keep = np.arange(n) != i
            coef, scale = _fit(x[keep], y[keep])
            out.append(abs(float(x[i] @ (coef / scale)) / y[i] - 1.0))
        return out

    def to_dict(self) -> dict[str, Any]:
        if self.coef is None or self.scale is None:
            return {}
        return {n: float(c / s) for n, c, s in zip(self.names, self.coef, self.scale, strict=True)}


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    a = (x / scale) / y[:, None]
    coef, _ = nnls(a, np.ones(len(y)), maxiter=50 * a.shape[1])
    return coef, scale


@dataclass
class Quantity:
    """One predicted quantity (latency or memory): its data, model and held-out errors."""

    name: str
    model: LinearModel
    x: list[np.ndarray] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)
    loo: list[float] = field(default_factory=list)

    def add(self, arch_id: str, features: np.ndarray, value: float) -> None:
        """Record a measured value (a later value of the same architecture replaces it)."""
        if not (math.isfinite(value) and value > 0):
            return
        if arch_id in self.ids:
            self.y[self.ids[arch_id]] = value
            return
        self.ids[arch_id] = len(self.y)
        self.x.append(features)
        self.y.append(value)

    def score(self, predicted: float | None, value: float | None) -> None:
        """Score a prediction made before ``value`` was known (a held-out error)."""
        if predicted is None or value is None or not value > 0:
            return
        self.scores.append(abs(predicted / value - 1.0))
        del self.scores[:-KEEP_SCORES]

    def refit(self) -> None:
        x, y = np.array(self.x), np.array(self.y)
        self.model.fit(x, y)
        self.loo = self.model.loo_errors(x, y) if self.model.ready else []

    def predict(self, features: np.ndarray) -> float | None:
        if not self.model.ready:
            return None
        return max(float(self.model.predict(features)[0]), 0.0)

    @property
    def held_out(self) -> list[float]:
        """The errors a margin rests on: prequential scores once there are enough, else
        leave-one-out."""
        return self.scores if len(self.scores) >= MIN_SCORED else self.loo

    def margin(self) -> float | None:
        """The relative margin for decisions (None: not enough evidence to decide on)."""
        errors = self.held_out
        if not self.model.ready or len(errors) < MIN_SCORED:
            return None
        q = float(np.quantile(errors, MARGIN_QUANTILE))
        return min(max(q, MARGIN_FLOOR), MARGIN_CAP)

    def summary(self) -> dict[str, Any]:
        scored = self.scores
        return {
            "n": len(self.y),
            "n_scored": len(scored),
            "mdape": _q(scored, 0.5),
            "p90ape": _q(scored, 0.9),
            "loo_mdape": _q(self.loo, 0.5),
            "margin": self.margin(),
            "coefficients": self.model.to_dict(),
        }


def _q(values: Sequence[float], q: float) -> float | None:
    return round(float(np.quantile(values, q)), 4) if values else None


class CostModel:
    """Latency and peak-memory models of one device under one set of settings.

    Feed it with :meth:`observe` (a measured architecture; ``predicted`` = what it predicted
    for it before, scored when the model had not seen that architecture yet) and call
    :meth:`refit` once a batch is in. The quick protocol's error against the full one
    (:meth:`observe_pair`) is kept too: it is the uncertainty of a quick measurement."""

    def __init__(self, settings: MeasureSettings) -> None:
        self.settings = settings
        self.latency = Quantity("latency", LinearModel(LATENCY_FEATURES))
        self.memory = Quantity("memory", LinearModel(MEMORY_FEATURES))
        self.quick: list[float] = []

    def observe(
        self,
        cfg: ArchConfig,
        latency_ms: float | None,
        memory_mb: float | None,
        predicted: tuple[float | None, float | None] = (None, None),
    ) -> None:
        if latency_ms is not None:
            if cfg.arch_id not in self.latency.ids:  # a score only for what it never saw
                self.latency.score(predicted[0], latency_ms)
            self.latency.add(cfg.arch_id, latency_features(cfg, self.settings), latency_ms)
        if memory_mb is not None:
            if cfg.arch_id not in self.memory.ids:
                self.memory.score(predicted[1], memory_mb)
            self.memory.add(cfg.arch_id, memory_features(cfg, self.settings), memory_mb)

    def observe_pair(self, quick_ms: float, full_ms: float) -> None:
        """A quick and a full median of the same architecture."""
        if quick_ms > 0 and full_ms > 0:
            self.quick.append(abs(quick_ms / full_ms - 1.0))
            del self.quick[:-KEEP_SCORES]

    def refit(self) -> None:
        self.latency.refit()
        self.memory.refit()

    def predict(self, cfg: ArchConfig) -> tuple[float | None, float | None]:
        """(latency ms, peak memory MiB), each None while its model is not fitted."""
        return (
            self.latency.predict(latency_features(cfg, self.settings)),
            self.memory.predict(memory_features(cfg, self.settings)),
        )

    def quick_margin(self, prior: float) -> float:
        """The relative uncertainty of a quick median: the :data:`MARGIN_QUANTILE` of the
        quick-vs-full errors seen (``prior`` until :data:`MIN_SCORED` pairs), floored."""
        if len(self.quick) < MIN_SCORED:
            return prior
        q = float(np.quantile(self.quick, MARGIN_QUANTILE))
        return min(max(q, MARGIN_FLOOR), MARGIN_CAP)

    def summary(self, quick_prior: float) -> dict[str, Any]:
        return {
            "latency": self.latency.summary(),
            "memory": self.memory.summary(),
            "quick": {
                "n": len(self.quick),
                "mdape": _q(self.quick, 0.5),
                "p90ape": _q(self.quick, 0.9),
                "margin": self.quick_margin(quick_prior),
            },
        }

    def state(self) -> dict[str, Any]:
        """What a resumed search needs besides the stored measurements: the held-out scores."""
        return {
            "latency_scores": [round(v, 6) for v in self.latency.scores],
            "memory_scores": [round(v, 6) for v in self.memory.scores],
            "quick": [round(v, 6) for v in self.quick],
        }

    def load_scores(self, state: dict[str, Any]) -> None:
        self.latency.scores = [float(v) for v in state.get("latency_scores", [])][-KEEP_SCORES:]
        self.memory.scores = [float(v) for v in state.get("memory_scores", [])][-KEEP_SCORES:]
        self.quick = [float(v) for v in state.get("quick", [])][-KEEP_SCORES:]


def fit_report(
    cfgs: Iterable[tuple[ArchConfig, float, float | None]], settings: MeasureSettings
) -> dict[str, Any]:
    """Fit both models on ``(cfg, latency ms, memory MiB)`` rows and report their
    leave-one-out errors (for benchmarks and offline checks)."""
    model = CostModel(settings)
    for cfg, latency, memory in cfgs:
        model.observe(cfg, latency, memory)
    model.refit()
    return {"latency": model.latency.summary(), "memory": model.memory.summary()}
