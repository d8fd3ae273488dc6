"""Backbones are a declaration: every consumer reads the registry (``lts.shared.backbones``),
none compares names. A fake third backbone, registered here, is used where it declares a part
and refused loudly where it lacks one; and no production module outside the registry compares
a backbone name (an AST scan)."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lts.agent.measure.estimate import estimate_memory_mb
from lts.agent.measure.runners import check_settings
from lts.controller.search.baselines import layer_scaled_baselines
from lts.shared.backbones import Backbone, backbone_names, base
from lts.shared.config import ArchConfig
from lts.shared.costs import LATENCY_FEATURES, latency_features
from lts.shared.errors import ConfigError
from lts.shared.params import count_params, decoder_params
from lts.shared.schemas import MeasureSettings
from lts.shared.space import SearchSpace

ROOT = Path(__file__).resolve().parent.parent
#: The production tree (the registry, shared/backbones/, is where names may be compared).
PRODUCTION = ("shared", "agent", "controller", "benchmarks")
REGISTRY = ROOT / "shared" / "backbones"

SHAPES: dict[str, Any] = {
    "n_layer": 2, "d_model": 64, "n_head": [2, 4], "d_inner": [128, 96], "d_embed": 64,
    "div_val": 2, "n_token": 1000, "cutoffs": [200, 500], "tgt_len": 24,
}  # fmt: skip


def _attention(cfg: ArchConfig) -> int:
    return 1000 * cfg.n_layer


def _feed_forward(cfg: ArchConfig) -> int:
    return 100 * cfg.n_layer


def _layer_norm(cfg: ArchConfig) -> int:
    return 10 * cfg.n_layer


def _decode_keys(cfg: ArchConfig, seq_len: int) -> int:
    return seq_len


def _cache_width(cfg: ArchConfig) -> int:
    return 3 * cfg.d_model


#: A third backbone with formulas of its own, learned positions, no memory, and neither a
#: model nor a paper baseline.
FAKE = Backbone(
    name="fake",
    title="Fake",
    attention_params=_attention,
    feed_forward_params=_feed_forward,
    layer_norm_params=_layer_norm,
    learned_positions=True,
    segment_memory=False,
    decode_keys=_decode_keys,
    cache_width=_cache_width,
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Backbone]:
    monkeypatch.setitem(base._registry, FAKE.name, FAKE)
    yield FAKE


def fake_arch(**changes: Any) -> ArchConfig:
    return ArchConfig.from_dict({**SHAPES, "backbone": "fake", **changes})


# ------------------------------------------------------------- where the fake has a part
def test_configs_follow_the_declared_rules(fake: Backbone) -> None:
    assert fake_arch(mem_len=64).mem_len == 0  # no segment memory: read as 0
    with pytest.raises(ConfigError, match="Fake has no segment memory") as info:
        dataclasses.replace(fake_arch(), mem_len=5)
    assert info.value.field == "mem_len"


def test_parameter_counts_compose_the_declared_formulas(fake: Backbone) -> None:
    cfg = fake_arch()
    counts = count_params(cfg)
    assert (counts.attention, counts.feed_forward, counts.layer_norm) == (2000, 200, 20)
    assert counts.decoder == decoder_params(cfg) == 2220
    xl = count_params(cfg.replace(backbone="transxl"))  # the same adaptive layers, no positions
    assert counts.softmax == xl.softmax
    assert counts.embedding == xl.embedding + 24 * 64  # the learned position table
    assert counts.total == counts.decoder + counts.embedding + counts.softmax


def test_cost_features_leave_the_declared_position_table_out(fake: Backbone) -> None:
    cfg = fake_arch()
    settings = MeasureSettings(seq_len=16)
    ours = dict(zip(LATENCY_FEATURES, latency_features(cfg, settings), strict=True))
    xl = latency_features(cfg.replace(backbone="transxl"), settings)
    assert ours["output_macs"] == dict(zip(LATENCY_FEATURES, xl, strict=True))["output_macs"]


def test_the_memory_estimate_uses_the_declared_cache(
    fake: Backbone, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = fake_arch(tgt_len=512)
    decode = MeasureSettings(metric="decode", seq_len=512, batch_size=8)
    prefill = MeasureSettings(metric="prefill", seq_len=512, batch_size=8)
    narrow = estimate_memory_mb(cfg, decode), estimate_memory_mb(cfg, prefill)
    wide = dataclasses.replace(FAKE, cache_width=lambda c: 300 * c.d_model)
    monkeypatch.setitem(base._registry, "fake", wide)
    # 2 caches x 4 bytes x 8 sequences x 512 positions x 297 x 64 more elements, x 1.25 safety
    extra_mb = 1.25 * 2 * 4 * 8 * 512 * 297 * 64 / 2**20
    assert estimate_memory_mb(cfg, decode) - narrow[0] == pytest.approx(extra_mb, abs=1)
    assert estimate_memory_mb(cfg, prefill) == narrow[1]  # no cache in a prefill


def test_the_measurement_checks_the_declared_position_table(fake: Backbone) -> None:
    cfg = fake_arch()
    check_settings(cfg, MeasureSettings(seq_len=24))
    with pytest.raises(ConfigError, match="exceeds the Fake position table") as info:
        check_settings(cfg, MeasureSettings(seq_len=25))
    assert info.value.field == "seq_len"


def test_a_space_of_the_fake(fake: Backbone) -> None:
    space = SearchSpace(backbone="fake", n_layer=(1, 2), d_model=(64,), d_inner=(128, 256))
    assert space.mem_len == 0  # the declaration's default
    assert space.contains(space.middle())
    with pytest.raises(ConfigError, match="Fake has no segment memory"):
        SearchSpace(backbone="fake", mem_len=192)
    assert [c.n_layer for c in layer_scaled_baselines(space, sizes="space")] == [1, 2]


# -------------------------------------------------------- where the fake lacks a part
def test_no_paper_baseline_is_an_error(fake: Backbone) -> None:
    space = SearchSpace(backbone="fake", n_layer=(1, 2), d_model=(64,), d_inner=(128, 256))
    with pytest.raises(ConfigError, match="'fake' has no paper baseline") as info:
        layer_scaled_baselines(space, sizes="paper")
    assert info.value.field == "baseline_sizes"


def test_no_model_is_an_error(fake: Backbone) -> None:
    pytest.importorskip("torch")
    from lts.shared.models import build_model

    with pytest.raises(ConfigError, match="'fake' declares no model") as info:
        build_model(fake_arch(), init="meta")
    assert info.value.field == "backbone"


def test_the_fake_is_gone_after_its_test() -> None:
    assert backbone_names() == ("gpt2", "transxl")
    with pytest.raises(ConfigError, match="must be one of gpt2, transxl"):
        fake_arch()


# ----------------------------------------------------- no name comparison outside the registry
def name_comparisons(tree: ast.AST, names: tuple[str, ...]) -> list[int]:
    """Lines that compare with, match or key a dict by a backbone name."""

    def named(node: ast.AST | None) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in names
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return any(named(e) for e in node.elts)
        return False

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            named(n) for n in (node.left, *node.comparators)
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.MatchValue) and named(node.value):
            lines.append(node.value.lineno)
        elif isinstance(node, ast.Dict) and any(named(k) for k in node.keys):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    "code",
    [
        'if cfg.backbone == "gpt2": pass',
        'x = 1 if "transxl" != cfg.backbone else 0',
        'ok = cfg.backbone in ("gpt2", "transxl")',
        'match cfg.backbone:\n    case "transxl": pass',
        'PAPER = {"gpt2": 1, "transxl": 2}',
    ],
)
def test_the_scan_finds_a_comparison(code: str) -> None:
    assert name_comparisons(ast.parse(code), backbone_names())


def test_no_backbone_name_is_compared_outside_the_registry() -> None:
    found = []
    for folder in PRODUCTION:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if REGISTRY in path.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            lines = name_comparisons(tree, backbone_names())
            found += [f"{path.relative_to(ROOT)}:{line}" for line in lines]
    assert not found, "ask lts.shared.backbones.get_backbone instead: " + ", ".join(found)
