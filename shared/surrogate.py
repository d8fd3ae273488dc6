"""A surrogate device: latency and peak memory predicted from an architecture's analytic cost
features (:mod:`lts.shared.costs`), with seeded measurement noise. No torch.

What a simulated agent (``agent serve --simulate FILE``) answers and what the search-quality
benchmark evaluates against. Per quantity (``prefill`` and ``decode`` latency in ms, ``memory``
peak memory in MiB) it holds a non-negative linear model over that kind's features (fitted to
real measurements by :func:`fit_surrogate`, on the log ratio) and ``sigma``, the standard
deviation of a multiplicative log-normal noise: a noisy answer is ``prediction * exp(sigma * z)``
with ``z`` standard normal, drawn from a generator seeded by the measurement settings' ``seed``
and the architecture's id, so the same request always gets the same answer.

The file (JSON, :meth:`Surrogate.to_dict`) holds one model per backbone (the backbones differ
in ways the features do not capture: Transformer-XL's relative positions and segment memory)::

    {"format": "lts-surrogate/2", "name": "...",
     "backbones": {"gpt2": {"prefill": {"coefficients": {"const": 1.2, "linear_macs": 3.1e-08,
                                                         ...}, "sigma": 0.1},
                            "decode": {...}, "memory": {...}},
                   "transxl": {...}},
     "meta": {...}}

Coefficients are per unit of each feature (ms or MiB per feature unit); features a quantity
does not list count 0. Asking for a backbone the file has no model of is a ConfigError.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lts.shared.config import ArchConfig
from lts.shared.costs import FEATURES, features
from lts.shared.errors import ConfigError
from lts.shared.schemas import MeasureSettings

FORMAT = "lts-surrogate/2"
#: The predicted quantities (each a feature kind of :data:`lts.shared.costs.FEATURES`).
QUANTITIES: tuple[str, ...] = ("prefill", "decode", "memory")


@dataclass(frozen=True)
class Surrogate:
    """A surrogate device (see the module doc). Immutable; thread-safe. ``coefficients`` and
    ``sigma`` are keyed by backbone, then quantity."""

    coefficients: Mapping[str, Mapping[str, Mapping[str, float]]]
    sigma: Mapping[str, Mapping[str, float]]
    name: str = "surrogate"
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.coefficients:
            raise ConfigError("backbones", "at least one backbone's model is needed")
        for backbone, per in self.coefficients.items():
            for q in QUANTITIES:
                where = f"backbones.{backbone}.{q}"
                if q not in per:
                    raise ConfigError(where, "missing")
                for feature, c in per[q].items():
                    if feature not in FEATURES[q]:
                        raise ConfigError(f"{where}.coefficients.{feature}",
                                          f"unknown feature; allowed: {', '.join(FEATURES[q])}")
                    if not (math.isfinite(c) and c >= 0):
                        raise ConfigError(f"{where}.coefficients.{feature}",
                                          f"must be finite and >= 0, got {c}")  # fmt: skip
                s = self.sigma.get(backbone, {}).get(q, 0.0)
                if not (math.isfinite(s) and 0 <= s <= 2):
                    raise ConfigError(f"{where}.sigma", f"must be in [0, 2], got {s}")

    def _model(self, backbone: str) -> Mapping[str, Mapping[str, float]]:
        try:
            return self.coefficients[backbone]
        except KeyError:
            have = ", ".join(self.coefficients)
            raise ConfigError("backbone", f"the surrogate {self.name!r} has no model of "
                                          f"{backbone!r} (it has {have})") from None  # fmt: skip

    def predict(self, quantity: str, cfg: ArchConfig, settings: MeasureSettings) -> float:
        """The noise-free prediction of ``quantity`` (ms or MiB) for ``cfg`` under
        ``settings`` (``prefill``/``decode`` time that metric whatever ``settings.metric``)."""
        coef = self._model(cfg.backbone)[quantity]
        vector = np.array([coef.get(f, 0.0) for f in FEATURES[quantity]])
        return float(features(quantity, cfg, settings) @ vector)

    def answer(
        self, cfg: ArchConfig, settings: MeasureSettings, *, noise: bool = True
    ) -> dict[str, float]:
        """Every quantity for ``cfg`` under ``settings``, each times its log-normal noise
        (``noise``), drawn from a generator seeded by ``settings.seed`` and the arch id."""
        z = noise_draws(settings.seed, cfg.arch_id) if noise else np.zeros(len(QUANTITIES))
        sigma = self.sigma.get(cfg.backbone, {})
        return {
            q: self.predict(q, cfg, settings) * math.exp(sigma.get(q, 0.0) * float(z[i]))
            for i, q in enumerate(QUANTITIES)
        }

    # ---------------------------------------------------------------------------- files
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "backbones": {
                b: {q: {"coefficients": dict(per[q]), "sigma": self.sigma.get(b, {}).get(q, 0.0)}
                    for q in QUANTITIES}
                for b, per in self.coefficients.items()
            },
            "meta": dict(self.meta),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Surrogate:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ConfigError("simulate", f"not a surrogate file (format {FORMAT!r} expected)")
        backbones = data.get("backbones")
        if not isinstance(backbones, Mapping):
            raise ConfigError("backbones", "missing")
        try:
            coef = {b: {q: {str(k): float(v) for k, v in per[q]["coefficients"].items()}
                        for q in QUANTITIES} for b, per in backbones.items()}
            sigma = {b: {q: float(per[q].get("sigma", 0.0)) for q in QUANTITIES}
                     for b, per in backbones.items()}  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError("backbones", f"malformed: {exc!r}") from exc
        return cls(coef, sigma, str(data.get("name", "surrogate")), dict(data.get("meta", {})))

    @classmethod
    def load(cls, path: str | Path) -> Surrogate:
        """Read a surrogate file; ConfigError (field ``simulate``) if it is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError("simulate", f"{path}: {exc}") from exc
        return cls.from_dict(data)

    def with_sigma(self, sigma: float) -> Surrogate:
        """The same device with noise ``sigma`` on every quantity of every backbone."""
        every = {b: dict.fromkeys(QUANTITIES, float(sigma)) for b in self.coefficients}
        return Surrogate(self.coefficients, every, self.name, self.meta)


def noise_draws(seed: int, arch_id: str) -> np.ndarray:
    """The standard normal draws (one per quantity, in :data:`QUANTITIES` order) of the
    measurement of ``arch_id`` under settings seed ``seed``."""
    return np.random.default_rng([int(seed), int(arch_id, 16)]).standard_normal(len(QUANTITIES))


# ------------------------------------------------------------------------------------ fit
def _rows(data: Mapping[str, Any], quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """The features and measured values of ``quantity`` in collected ``data`` (see
    ``benchmarks/collect_surrogate.py``)."""
    key = {"prefill": "prefill_ms", "decode": "decode_ms", "memory": "peak_memory_mb"}[quantity]
    settings_key = "decode_settings" if quantity == "decode" else "prefill_settings"
    x, y = [], []
    for row in data["rows"]:
        value = row.get(key)
        if isinstance(value, Mapping):
            value = value.get("median")
        if value is None or not value > 0 or row.get(settings_key) is None:
            continue
        cfg = ArchConfig.from_dict(row["arch"])
        settings = MeasureSettings.model_validate(row[settings_key])
        x.append(features(quantity, cfg, settings))
        y.append(float(value))
    return np.array(x), np.array(y)


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative coefficients minimising the squared log ratio of measurement and
    prediction (``scipy.optimize.least_squares`` with bounds, started from the non-negative
    least squares on relative error). On a noisy device the log ratio is the unbiased choice:
    an error relative to the measurement biases the fit low (an overestimate costs without
    bound, an underestimate at most 1), one relative to the prediction biases it high."""
    from scipy.optimize import least_squares, nnls

    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    xs = x / scale
    start, _ = nnls(xs / y[:, None], np.ones(len(y)), maxiter=50 * x.shape[1])
    start = np.maximum(start, 1e-6 * max(float(start.max()), 1e-12))
    log_y = np.log(y)

    def residuals(c: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(xs @ c, 1e-300)) - log_y

    return least_squares(residuals, start, bounds=(0.0, np.inf)).x / scale


def _held_out(x: np.ndarray, y: np.ndarray, seed: int, repeats: int = 10) -> np.ndarray:
    """Held-out log ratios (measured / predicted) of repeated 5-fold cross-validation."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        folds = np.array_split(rng.permutation(len(y)), 5)
        for test in folds:
            train = np.setdiff1d(np.arange(len(y)), test)
            pred = x[test] @ _fit(x[train], y[train])
            out += list(np.log(y[test] / np.maximum(pred, 1e-12)))
    return np.array(out)


def fit_surrogate(
    data: Mapping[str, Any], *, sigma: float | None = None, seed: int = 0, name: str = "cpu"
) -> tuple[Surrogate, dict[str, dict[str, dict[str, float]]]]:
    """Fit a surrogate to collected measurements, one model per backbone present; also return
    each model's held-out error (repeated 5-fold: ``mdape``, ``p90ape``, ``n``, ``spread``:
    1.4826 x the median absolute deviation of the log ratios). The latencies' noise is
    ``sigma``, or (None) their ``spread``; the memory's is always its ``spread``. A spread is
    an upper bound of the device's own noise: the model's error is in it too."""
    coefficients: dict[str, dict[str, dict[str, float]]] = {}
    sigmas: dict[str, dict[str, float]] = {}
    report: dict[str, dict[str, dict[str, float]]] = {}
    backbones = sorted({row["arch"]["backbone"] for row in data["rows"]})
    for backbone in backbones:
        rows = {"rows": [r for r in data["rows"] if r["arch"]["backbone"] == backbone]}
        coefficients[backbone], sigmas[backbone], report[backbone] = {}, {}, {}
        for q in QUANTITIES:
            x, y = _rows(rows, q)
            if len(y) < 12:
                raise ConfigError(q, f"{backbone}: needs at least 12 measurements, got {len(y)}")
            coef = _fit(x, y)
            coefficients[backbone][q] = {f: float(c) for f, c in zip(FEATURES[q], coef,
                                                                     strict=True)}  # fmt: skip
            log_ratio = _held_out(x, y, seed)
            ape = np.abs(np.exp(log_ratio) - 1.0)
            spread = 1.4826 * float(np.median(np.abs(log_ratio - np.median(log_ratio))))
            report[backbone][q] = {"n": len(y), "mdape": float(np.median(ape)),
                                   "p90ape": float(np.quantile(ape, 0.9)),
                                   "spread": spread}  # fmt: skip
            latency = q != "memory"
            sigmas[backbone][q] = round(sigma if latency and sigma is not None
                                        else min(spread, 2.0), 4)  # fmt: skip
    meta = {"fitted_on": dict(data.get("meta", {})), "held_out": report}
    return Surrogate(coefficients, sigmas, name, meta), report
