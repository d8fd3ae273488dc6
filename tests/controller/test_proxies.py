"""Proxies: the registry, the evaluation measures (SRC, CR) and every low-cost proxy on small
architectures of both backbones."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from lts.controller.proxies import DEFAULT_PROXY, get_proxy, list_proxies
from lts.controller.proxies.evaluate import (
    common_ratio,
    common_ratios,
    evaluate_proxy,
    spearman,
    top_count,
)
from lts.controller.tables import parse_row, read_table
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError

LOW_COST = ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov", "relu_log_det")

# Small architectures (vocabulary 1000) covering both backbones, adaptive clusters with
# div_val > 1, a single table with a projection (div_val 1, d_embed != d_model), and per-layer
# widths. Feed-forward units >= 257 so that relu_log_det's 256-token kernel can be full rank.
SMALL = {
    "gpt2-adaptive": dict(
        backbone="gpt2", n_layer=2, d_model=64, n_head=[2, 4], d_inner=[160, 128],
        d_embed=64, div_val=2, n_token=1000, cutoffs=[200, 500], tgt_len=32,
    ),
    "gpt2-single": dict(
        backbone="gpt2", n_layer=3, d_model=64, n_head=4, d_inner=128, d_embed=32, div_val=1,
        n_token=1000, cutoffs=[], tgt_len=32,
    ),
    "transxl-adaptive": dict(
        backbone="transxl", n_layer=2, d_model=64, n_head=[2, 4], d_inner=[192, 128],
        d_embed=128, div_val=4, n_token=1000, cutoffs=[200, 500], tgt_len=32,
    ),
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(SMALL))
def small_cfg(request) -> ArchConfig:
    return ArchConfig.from_dict(SMALL[request.param])


# ------------------------------------------------------------------------------ registry
def test_registry_lists_every_proxy_default_first():
    names = [p.name for p in list_proxies()]
    assert names[0] == DEFAULT_PROXY == "decoder_params"
    assert set(names) == {"decoder_params", "total_params", *LOW_COST}
    for proxy in list_proxies():
        assert proxy.needs_torch == (proxy.name in LOW_COST)
        assert proxy.higher_is_better
        assert proxy.cost


def test_unknown_proxy_is_a_config_error_naming_proxies():
    with pytest.raises(ConfigError) as info:
        get_proxy("params_but_better")
    assert info.value.field == "proxies"
    assert "decoder_params" in str(info.value)


def test_importing_proxies_and_evaluation_does_not_import_torch():
    code = (
        "import sys, lts.controller.proxies, lts.controller.proxies.evaluate;"
        "from lts.controller.proxies import get_proxy;"
        "from lts.shared.config import ArchConfig;"
        "cfg = ArchConfig.from_dict(dict(backbone='gpt2', n_layer=2, d_model=64, n_head=2,"
        " d_inner=128));"
        "get_proxy('decoder_params')(cfg); get_proxy('total_params')(cfg);"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_analytic_proxies_are_the_exact_counts():
    cfg = ArchConfig.from_dict(SMALL["gpt2-adaptive"])
    from lts.shared.params import count_params

    counts = count_params(cfg)
    assert get_proxy("decoder_params")(cfg) == counts.decoder
    assert get_proxy("total_params")(cfg) == counts.total


# -------------------------------------------------------------------- SRC on the tables
@pytest.mark.parametrize(
    ("table", "published"),
    [("random_GPT2_wt103.jsonl", 0.967), ("random_TransXL_lm1b.jsonl", 0.9989)],
)
def test_decoder_params_src_matches_the_published_counts(tables_dir, table, published):
    rows = read_table(tables_dir / table)
    ppl = [row.valid_ppl for row in rows]
    from_published = spearman([row.params["nonembedding"] for row in rows], ppl)
    evaluation = evaluate_proxy(get_proxy("decoder_params"), rows)
    assert evaluation.failed == 0
    assert round(evaluation.spearman, 3) == round(from_published, 3)
    assert round(evaluation.spearman, len(str(published)) - 2) == published


# -------------------------------------------------------------------------- CR and SRC
# Ten models, model i has perplexity i + 1 (model 0 is the best). The proxy ranks them
# 0, 1, 9, 3, 4, 5, 6, 7, 8, 2 (highest score first).
PPL = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
SCORES = [10.0, 9.0, 1.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 8.0]


def test_common_ratio_on_a_hand_made_example():
    # top 1: {0} vs {0}; top 2: {0,1} vs {0,1}; top 3: {0,1,2} vs {0,1,9};
    # top 4: {0..3} vs {0,1,9,3}; top 5: {0..4} vs {0,1,9,3,4}; ... top 9 misses 2 only.
    expected = {
        10: 1,
        20: 1,
        30: 2 / 3,
        40: 3 / 4,
        50: 4 / 5,
        60: 5 / 6,
        70: 6 / 7,
        80: 7 / 8,
        90: 8 / 9,
        100: 1,
    }
    got = common_ratios(SCORES, PPL)
    assert got == pytest.approx(expected)
    # Lower-is-better proxies: the same ranking spelled with negated scores.
    negated = [-s for s in SCORES]
    assert common_ratios(negated, PPL, higher_is_better=False) == pytest.approx(expected)


def test_common_ratio_rounds_the_top_set_up_and_handles_edges():
    assert top_count(200, 10) == 20
    assert top_count(183, 10) == 19  # ceil(18.3)
    assert top_count(5, 10) == 1
    assert common_ratio([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], 100) == 1.0
    assert common_ratio([3.0, 2.0, 1.0], [3.0, 2.0, 1.0], 30) == 0.0  # worst proxy
    assert math.isnan(common_ratio([], [], 10))
    with pytest.raises(ValueError):
        common_ratio([1.0], [1.0], 0)


def test_spearman_sign_convention():
    assert spearman([-p for p in PPL], PPL) == pytest.approx(1.0)  # perfect proxy
    assert spearman(PPL, PPL) == pytest.approx(-1.0)  # perfectly wrong
    assert spearman(PPL, PPL, higher_is_better=False) == pytest.approx(1.0)
    assert math.isnan(spearman([1.0], [1.0]))
    assert math.isnan(spearman([1.0, 1.0, 1.0], PPL[:3]))  # constant proxy


def test_evaluate_proxy_reports_every_failed_row():
    good = {"backbone": "gpt2", "arch": {"n_layer": 2, "d_model": 64, "n_head": 2, "d_inner": 128}}
    rows = [
        parse_row(0, {"id": "ok1", **good, "valid_ppl": 30.0}),
        parse_row(1, {"id": "bad-arch", "backbone": "gpt2", "arch": {"n_layer": 2}}),
        parse_row(2, {"id": "no-ppl", **good}),
        parse_row(3, {"id": "ok2", **good, "valid_ppl": 31.0}),
    ]
    evaluation = evaluate_proxy(get_proxy("decoder_params"), rows)
    assert evaluation.failed == 2
    reasons = dict(evaluation.failures)
    assert set(reasons) == {"bad-arch", "no-ppl"}
    assert "d_model" in reasons["bad-arch"] and "valid_ppl" in reasons["no-ppl"]
    assert evaluation.scores[0] is not None and evaluation.scores[1] is None

    def broken(cfg, **_):
        raise RuntimeError("boom")

    from lts.controller.proxies import Proxy

    failing = evaluate_proxy(Proxy("broken", broken, needs_torch=False, cost="-"), rows)
    assert failing.failed == 4
    assert "RuntimeError: boom" in dict(failing.failures)["ok1"]
    assert math.isnan(failing.spearman)


# ------------------------------------------------------------------- low-cost proxies
@pytest.mark.parametrize("name", LOW_COST)
def test_low_cost_proxy_is_finite_and_deterministic(small_cfg, name):
    import torch

    proxy = get_proxy(name)
    state = torch.random.get_rng_state()
    first = proxy(small_cfg)
    assert math.isfinite(first), (name, small_cfg.backbone, first)
    assert torch.equal(torch.random.get_rng_state(), state)  # caller's RNG untouched
    assert proxy(small_cfg) == first  # seeded: same architecture, same score


def test_low_cost_proxies_depend_on_the_seed_and_the_size():
    small = ArchConfig.from_dict(SMALL["gpt2-single"])
    wider = small.replace(d_inner=512)
    snip = get_proxy("snip")
    assert snip(small, seed=1) != snip(small, seed=0)
    assert snip(wider) > snip(small)  # more weights, more saliency


def test_relu_log_det_refuses_a_singular_kernel():
    cfg = ArchConfig.from_dict(SMALL["gpt2-single"])  # 384 feed-forward units
    with pytest.raises(ConfigError) as info:
        get_proxy("relu_log_det")(cfg, batch_size=16, seq_len=32)
    assert info.value.field == "relu_log_det"
