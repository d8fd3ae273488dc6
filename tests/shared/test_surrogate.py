"""The surrogate device: predictions from the cost features, seeded noise, files, the fit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from testkit import SURROGATE_COEF as COEF
from testkit import small_surrogate

from lts.shared.costs import features
from lts.shared.errors import ConfigError
from lts.shared.schemas import MeasureSettings
from lts.shared.space import default_space
from lts.shared.surrogate import QUANTITIES, Surrogate, fit_surrogate, noise_draws

SURROGATE = small_surrogate()
CFG = default_space("gpt2").middle()


def test_a_prediction_is_the_linear_model_of_the_cost_features() -> None:
    s = MeasureSettings()
    x = features("prefill", CFG, s)
    names = ("const", "layers", "heads", "linear_macs", "attn_macs", "output_macs", "weight_bytes")
    expected = sum(COEF["prefill"].get(n, 0.0) * v for n, v in zip(names, x, strict=True))
    assert SURROGATE.predict("prefill", CFG, s) == pytest.approx(expected)
    # decode is predicted from the decode features whatever the settings' metric
    assert SURROGATE.predict("decode", CFG, s) == SURROGATE.predict(
        "decode", CFG, s.model_copy(update={"metric": "decode"})
    )


def test_noise_is_log_normal_and_seeded_by_the_settings_seed_and_the_arch_id() -> None:
    a = SURROGATE.answer(CFG, MeasureSettings(seed=1))
    assert a == SURROGATE.answer(CFG, MeasureSettings(seed=1))
    assert a != SURROGATE.answer(CFG, MeasureSettings(seed=2))
    z = noise_draws(1, CFG.arch_id)
    for i, q in enumerate(QUANTITIES):
        free = SURROGATE.predict(q, CFG, MeasureSettings(seed=1))
        assert a[q] == pytest.approx(free * math.exp(SURROGATE.sigma["gpt2"][q] * z[i]))
    assert SURROGATE.answer(CFG, MeasureSettings(), noise=False)["memory"] == pytest.approx(
        SURROGATE.predict("memory", CFG, MeasureSettings())
    )


def test_a_file_round_trips_and_a_bad_one_is_refused(tmp_path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SURROGATE.to_dict()))
    assert Surrogate.load(path) == SURROGATE
    bad = SURROGATE.to_dict()
    bad["backbones"]["gpt2"]["prefill"]["coefficients"]["heads"] = -1.0
    path.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="must be finite and >= 0"):
        Surrogate.load(path)
    path.write_text("{}")
    with pytest.raises(ConfigError, match="not a surrogate file"):
        Surrogate.load(path)
    assert SURROGATE.with_sigma(0.0).answer(CFG, MeasureSettings(seed=3)) == SURROGATE.answer(
        CFG, MeasureSettings(seed=3), noise=False
    )


def test_the_fit_recovers_a_noise_free_device() -> None:
    space = default_space("gpt2")
    rng = np.random.default_rng(0)
    from lts.controller.search.operators import sample

    rows = []
    for _ in range(40):
        cfg = sample(space, rng)
        truth = SURROGATE.answer(cfg, MeasureSettings(), noise=False)
        settings = MeasureSettings().model_dump()
        decode = MeasureSettings(metric="decode", measure_memory=False).model_dump()
        rows.append({"arch": cfg.to_dict(), "prefill_ms": {"median": truth["prefill"]},
                     "decode_ms": {"median": truth["decode"]},
                     "peak_memory_mb": truth["memory"], "prefill_settings": settings,
                     "decode_settings": decode})  # fmt: skip
    fitted, report = fit_surrogate({"meta": {}, "rows": rows})
    for q in QUANTITIES:
        assert report["gpt2"][q]["n"] == 40
        assert report["gpt2"][q]["mdape"] < 1e-3
        assert fitted.sigma["gpt2"][q] < 1e-3
    cfg = space.largest()
    for q in QUANTITIES:
        assert fitted.predict(q, cfg, MeasureSettings()) == pytest.approx(
            SURROGATE.predict(q, cfg, MeasureSettings()), rel=1e-3
        )
