"""The online cost model: analytic features, the non-negative fit, honest errors."""

from __future__ import annotations

import numpy as np
import pytest

from lts.controller.search import cost_model as cm
from lts.controller.search import operators
from lts.controller.search.cost_model import CostModel
from lts.shared import costs
from lts.shared.config import ArchConfig
from lts.shared.costs import features, latency_features, memory_features
from lts.shared.objectives import ObjectiveSet
from lts.shared.params import count_params
from lts.shared.schemas import MeasureSettings
from lts.shared.space import default_space

SETTINGS = MeasureSettings()


def configs(n: int, seed: int = 0) -> list[ArchConfig]:
    space = default_space("gpt2")
    rng = np.random.default_rng(seed)
    return [operators.sample(space, rng) for _ in range(n)]


def test_linear_macs_per_position_are_the_matmul_weights() -> None:
    cfg = configs(1)[0]
    f = dict(zip(costs.LATENCY_FEATURES, latency_features(cfg, SETTINGS), strict=True))
    counts = count_params(cfg)
    # Weights of the projections and feed-forward layers = attention + FFN less the biases.
    weights = counts.attention + counts.feed_forward
    biases = sum(3 * cfg.attn_dim(i) + cfg.d_model + cfg.d_inner[i] + cfg.d_model
                 for i in range(cfg.n_layer))  # fmt: skip
    assert f["linear_macs"] == SETTINGS.seq_len * (weights - biases)
    assert f["layers"] == cfg.n_layer and f["heads"] == sum(cfg.n_head)


def test_features_follow_the_settings() -> None:
    cfg = configs(1)[0]
    last = latency_features(cfg, SETTINGS)
    every = latency_features(cfg, SETTINGS.model_copy(update={"output": "all"}))
    i = costs.LATENCY_FEATURES.index("output_macs")
    assert every[i] == SETTINGS.seq_len * last[i]
    decode = latency_features(cfg, SETTINGS.model_copy(update={"metric": "decode"}))
    j = costs.LATENCY_FEATURES.index("linear_macs")
    assert decode[j] * SETTINGS.seq_len == last[j]  # one new position instead of seq_len
    m_prefill = memory_features(cfg, SETTINGS)
    m_decode = memory_features(cfg, SETTINGS.model_copy(update={"metric": "decode"}))
    k = costs.MEMORY_FEATURES.index("cache_bytes")
    assert m_prefill[k] == 0 and m_decode[k] > 0


def test_the_fit_recovers_a_linear_cost_and_scores_its_predictions() -> None:
    cfgs = configs(80)
    truth = np.array([2.0, 0.5, 0.0, 3e-8, 1e-8, 2e-7, 0.0])  # ms per unit of each feature
    model = CostModel(SETTINGS)
    assert model.predict(cfgs[0]) == {"latency": None, "memory": None}
    for cfg in cfgs[:40]:
        model.observe(cfg, {"latency": float(latency_features(cfg, SETTINGS) @ truth)})
    model.refit()
    assert model.margin("latency") == cm.MARGIN_FLOOR  # exact data: the floor
    for cfg in cfgs[40:]:
        predicted = model.predict(cfg)
        exact = float(latency_features(cfg, SETTINGS) @ truth)
        assert predicted["latency"] == pytest.approx(exact, rel=1e-6)
        model.observe(cfg, {"latency": exact}, predicted)
    summary = model.quantities["latency"].summary()
    assert summary["n"] == 80 and summary["n_scored"] == 40
    assert summary["mdape"] < 1e-6


def test_margins_need_evidence_and_stay_within_bounds() -> None:
    rng = np.random.default_rng(1)
    model = CostModel(SETTINGS)
    cfgs = configs(60, seed=2)
    for cfg in cfgs[: cm.MIN_FIT - 1]:
        model.observe(cfg, {"latency": 100.0, "memory": 100.0})
    model.refit()
    assert model.margin("latency") is None
    assert model.predict(cfgs[0]) == {"latency": None, "memory": None}
    for cfg in cfgs:  # pure noise around a constant: large errors, capped margin
        model.observe(cfg, {"latency": float(rng.uniform(10, 1000)),
                            "memory": float(rng.uniform(10, 1000))})  # fmt: skip
    model.refit()
    margin = model.margin("latency")
    assert margin is not None and cm.MARGIN_FLOOR <= margin <= cm.MARGIN_CAP


def test_quick_margin_uses_the_prior_until_enough_pairs() -> None:
    model = CostModel(SETTINGS)
    assert model.quick_margin(0.1) == 0.1
    for i in range(cm.MIN_SCORED):
        model.observe_pair(100.0 + i % 3, 100.0)
    assert model.quick_margin(0.1) == pytest.approx(max(cm.MARGIN_FLOOR, 0.02), abs=1e-3)


def test_scores_survive_a_resume() -> None:
    model = CostModel(SETTINGS)
    cfgs = configs(30, seed=3)
    for cfg in cfgs:
        model.observe(cfg, {"latency": 50.0 + cfg.n_layer, "memory": 10.0},
                      {"latency": 55.0, "memory": 11.0})  # fmt: skip
    again = CostModel(SETTINGS)
    again.load_scores(model.state())
    for name in ("latency", "memory"):
        assert again.quantities[name].scores == pytest.approx(model.quantities[name].scores,
                                                              abs=1e-6)  # fmt: skip


def test_every_timed_objective_gets_its_own_model() -> None:
    """A four-objective search predicts prefill and decode latency from their own features:
    decode costs one position after a cache, prefill seq_len positions."""
    objectives = ObjectiveSet(("params", "latency", "decode_latency", "memory"))
    model = CostModel(SETTINGS, objectives)
    assert set(model.quantities) == {"latency", "decode_latency", "memory"}
    truth = np.array([2.0, 0.5, 0.0, 3e-8, 1e-8, 2e-7, 0.0])
    cfgs = configs(40, seed=4)
    for cfg in cfgs:
        model.observe(cfg, {"latency": float(features("prefill", cfg, SETTINGS) @ truth),
                            "decode_latency": float(features("decode", cfg, SETTINGS) @ truth)})
    model.refit()
    cfg = configs(1, seed=5)[0]
    predicted = model.predict(cfg)
    assert predicted["decode_latency"] == pytest.approx(
        float(features("decode", cfg, SETTINGS) @ truth), rel=1e-6)
    assert predicted["latency"] > 10 * predicted["decode_latency"]
    assert predicted["memory"] is None  # not fitted: nothing measured of it
