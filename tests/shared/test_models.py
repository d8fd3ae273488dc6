"""The PyTorch backbones: parameter counts against shared.params and the published tables,
forward log-probabilities, the loss, constant initialisation, cached decoding, lazy torch."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from testkit import FP32_REL, assert_fp32_close, max_scaled_diff

from lts.controller.tables import read_table
from lts.shared.backbones import backbone_names, get_backbone
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.params import ParamCounts, count_params, table_params

torch = pytest.importorskip("torch")

from lts.shared.models import build_model, module_param_counts  # noqa: E402

N_RANDOM = 200


# ------------------------------------------------------------------------------- helpers
def random_arch(rng: np.random.Generator, backbone: str) -> ArchConfig:
    """A random architecture from a space wider than the default search space."""
    n_layer = int(rng.integers(1, 17))
    d_model = 64 * int(rng.integers(1, 17))
    n_token = int(rng.integers(10, 2000) if rng.random() < 0.5 else rng.integers(30_000, 800_000))
    n_cut = int(rng.integers(0, 4))
    cutoffs: list[int] = []
    while len(cutoffs) != n_cut:
        cutoffs = sorted({int(c) for c in rng.integers(1, n_token, size=n_cut)})
    arch = {
        "backbone": backbone,
        "n_layer": n_layer,
        "d_model": d_model,
        "n_head": [int(rng.choice([1, 2, 4, 8])) for _ in range(n_layer)],
        "d_inner": [int(x) for x in rng.integers(64, 4097, size=n_layer)],
        "d_embed": d_model if rng.random() < 0.2 else int(rng.choice([64, 128, 256, 512, 1024])),
        "div_val": int(rng.choice([1, 2, 4])),
        "n_token": n_token,
        "cutoffs": cutoffs,
        "tie_weight": bool(rng.random() < 0.5),
        "tie_projs": [bool(x) for x in rng.random(n_cut + 1) < 0.5],
        "tgt_len": int(rng.integers(1, 1025)),
    }
    if rng.random() < 0.25:
        arch["d_head"] = int(rng.choice([8, 16, 32, 48, 64, 128]))
    if backbone == "transxl":
        arch["mem_len"] = int(rng.integers(0, 1025))
    return ArchConfig.from_dict(arch)


def small_arch(backbone: str, **changes: object) -> ArchConfig:
    """A small real model: vocabulary 1000 in clusters [0, 200), [200, 500), [500, 1000)."""
    arch: dict[str, object] = {
        "backbone": backbone,
        "n_layer": 2,
        "d_model": 64,
        "n_head": [2, 4],
        "d_inner": [128, 96],
        "d_embed": 64,
        "div_val": 2,
        "n_token": 1000,
        "cutoffs": [200, 500],
        "tgt_len": 24,
    }
    if backbone == "transxl":
        arch["mem_len"] = 24
    arch.update(changes)
    return ArchConfig.from_dict(arch)


# Variants of the small model: each projection/tying/width case of the adaptive layers.
SMALL_VARIANTS = {
    "div2": {},
    "div1-proj": {"div_val": 1, "d_embed": 32, "tie_projs": [False, False, False]},
    "div1-noproj": {"div_val": 1, "d_embed": 64},
    "div4-untied": {"div_val": 4, "tie_weight": False, "tie_projs": [True, False, True]},
    "dhead-one-cluster": {"d_head": 24, "cutoffs": [], "n_head": [3, 1]},
}


def spread(model: torch.nn.Module, std: float = 0.3, seed: int = 0) -> torch.nn.Module:
    """Re-draw the weights with a large std so that attention and positions really matter."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                continue
            for p in module.parameters(recurse=False):
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


def tokens(cfg: ArchConfig, shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.n_token, shape, generator=gen)


# --------------------------------------------------------------------- (a), (b) counts
@pytest.mark.parametrize("backbone", backbone_names())
def test_module_counts_equal_params_for_random_archs(backbone: str) -> None:
    rng = np.random.default_rng(20221128 + backbone_names().index(backbone))
    for _ in range(N_RANDOM):
        cfg = random_arch(rng, backbone)
        model = build_model(cfg, init="meta")
        assert module_param_counts(model) == count_params(cfg).as_dict(), cfg.canonical_json()


@pytest.mark.parametrize("name", ["random_GPT2_wt103.jsonl", "random_TransXL_lm1b.jsonl"])
def test_module_counts_equal_published_tables(tables_dir: Path, name: str) -> None:
    rows = read_table(tables_dir / name)
    assert len(rows) > 100
    for row in rows:
        assert row.arch is not None, row.error
        counts = module_param_counts(build_model(row.arch, init="meta"))
        named = table_params(ParamCounts(**counts))
        assert named == row.params, row.id


def test_meta_model_has_no_storage() -> None:
    model = build_model(small_arch("gpt2"), init="meta")
    assert all(p.device.type == "meta" for p in model.parameters())
    assert not model.training


def test_meta_init_skip_leaves_torch_init_alone() -> None:
    from lts.shared.models import _skip_meta_init

    originals = [getattr(torch.nn.init, n) for n in ("uniform_", "normal_", "kaiming_uniform_")]
    with _skip_meta_init(), _skip_meta_init():  # nested: restored by the last one out
        real = torch.nn.Linear(4, 3)  # tensors on a real device are still initialised
        assert bool((real.weight != 0).any())
        assert torch.nn.init.uniform_(torch.empty(2, device="meta")).is_meta
    build_model(small_arch("transxl"), init="meta")
    assert [getattr(torch.nn.init, n) for n in ("uniform_", "normal_", "kaiming_uniform_")] == (
        originals
    )


# ------------------------------------------------------------------------- (c) forward
@pytest.mark.parametrize("variant", sorted(SMALL_VARIANTS))
@pytest.mark.parametrize("backbone", ["gpt2", "transxl"])
def test_forward_log_probs_and_loss(backbone: str, variant: str) -> None:
    torch.manual_seed(0)
    cfg = small_arch(backbone, **SMALL_VARIANTS[variant])
    model = spread(build_model(cfg))
    assert module_param_counts(model) == count_params(cfg).as_dict()  # tying survived
    idx = tokens(cfg, (2, 12))
    targets = tokens(cfg, (2, 12), seed=1)
    with torch.inference_mode():
        logp = model(idx, output="all")
        last = model(idx)
        loss = model(idx, targets)
    assert logp.shape == (2, 12, cfg.n_token)
    assert last.shape == (2, 1, cfg.n_token)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 12), atol=1e-5)
    assert_fp32_close(last[:, 0], logp[:, -1], "last position")
    nll = -logp.gather(-1, targets.unsqueeze(-1)).mean()
    assert loss.shape == ()
    assert_fp32_close(loss, nll, "loss")
    assert logp.std() > 0.1  # far from uniform: the check above is not vacuous


@pytest.mark.parametrize("div_val", [1, 4])
def test_loss_at_cluster_boundaries(div_val: int) -> None:
    cfg = small_arch("gpt2", div_val=div_val)
    model = spread(build_model(cfg))
    idx = torch.tensor([[0, 199, 200, 499, 500, 999]])  # first and last id of every cluster
    with torch.inference_mode():
        logp = model(idx, output="all")
        loss = model(idx, idx.flip(1))
        one = model(idx[:, :1], idx[:, :1] + 999)  # one position: its NLL
    assert_fp32_close(loss, -logp.gather(-1, idx.flip(1).unsqueeze(-1)).mean(), "loss")
    assert_fp32_close(one, -logp[0, 0, 999], "one position")


def test_default_vocabulary_gpt2() -> None:
    cfg = ArchConfig.from_dict(
        {"backbone": "gpt2", "n_layer": 1, "d_model": 64, "n_head": 2, "d_inner": 128,
         "d_embed": 64, "div_val": 4, "tgt_len": 8}
    )  # fmt: skip
    assert cfg.n_token == 50257 and cfg.n_clusters == 3
    model = build_model(cfg)
    idx = torch.tensor([[0, 19996, 19997, 39997, 50256]])
    with torch.inference_mode():
        logp = model(idx, output="all")
    assert logp.shape == (1, 5, 50257)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(1, 5), atol=1e-4)


@pytest.mark.parametrize("backbone", ["gpt2", "transxl"])
def test_constant_init_is_finite_and_written(backbone: str) -> None:
    cfg = small_arch(backbone, div_val=1, d_embed=32, tie_weight=False)
    model = build_model(cfg, init="constant")
    assert module_param_counts(model) == count_params(cfg).as_dict()
    assert list(model.buffers()) == []  # nothing else to write
    for name, p in model.named_parameters():
        assert p.device.type == "cpu"
        assert bool((p != 0).all()), f"{name} has zeros"
    idx = tokens(cfg, (1, 10))
    with torch.inference_mode():
        assert torch.isfinite(model(idx, output="all")).all()
        assert torch.isfinite(model(idx, idx)).all()


def test_constant_init_dtype_and_deep_model() -> None:
    cfg = small_arch("gpt2", n_layer=16, n_head=8, d_inner=1024, d_model=256)
    model = build_model(cfg, init="constant", dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert module_param_counts(model) == count_params(cfg).as_dict()
    with torch.inference_mode():
        assert torch.isfinite(model(tokens(cfg, (1, 24)))).all()


def test_bad_arguments() -> None:
    cfg = small_arch("gpt2")
    with pytest.raises(ConfigError, match="init"):
        build_model(cfg, init="zeros")
    model = build_model(cfg, init="constant")
    with pytest.raises(ConfigError, match="output"):
        model(tokens(cfg, (1, 4)), output="first")
    with pytest.raises(ConfigError, match="seq_len"):
        model(tokens(cfg, (1, cfg.tgt_len + 1)))


# -------------------------------------------------------------------------- (d) decode
def assert_cache_unchanged(before: list[torch.Tensor], cache: object) -> None:
    after = _cache_tensors(cache)
    assert len(before) == len(after)
    for b, a in zip(before, after, strict=True):
        assert torch.equal(b, a)


def _cache_tensors(cache: object) -> list[torch.Tensor]:
    if hasattr(cache, "layers"):
        return [t for kv in cache.layers for t in kv]
    return list(cache.mems)


@pytest.mark.parametrize("variant", ["div2", "div1-proj", "dhead-one-cluster"])
def test_gpt2_decode_reproduces_forward(variant: str) -> None:
    cfg = small_arch("gpt2", **SMALL_VARIANTS[variant])
    model = spread(build_model(cfg))
    idx = tokens(cfg, (2, cfg.tgt_len))
    with torch.inference_mode():
        full = model(idx, output="all")
        cache = None
        for t in range(cfg.tgt_len):
            logp, cache = model.decode_step(idx[:, t : t + 1], cache)
            assert logp.shape == (2, 1, cfg.n_token)
            assert_fp32_close(logp[:, 0], full[:, t], t)
        assert cache.length == cfg.tgt_len
        with pytest.raises(ConfigError, match="seq_len"):
            model.decode_step(idx[:, :1], cache)
        # A prefill of several tokens (causal mask with an offset), then one more token.
        _, prefix = model.decode_step(idx[:, :5])
        logp, _ = model.decode_step(idx[:, 5:9], prefix)
        assert_fp32_close(logp[:, 0], full[:, 8], "prefill + 4")


@pytest.mark.parametrize("backbone", ["gpt2", "transxl"])
def test_decode_does_not_mutate_cache(backbone: str) -> None:
    cfg = small_arch(backbone)
    model = spread(build_model(cfg))
    idx = tokens(cfg, (1, 8))
    with torch.inference_mode():
        _, cache = model.decode_step(idx)
        before = [t.clone() for t in _cache_tensors(cache)]
        first, new = model.decode_step(idx[:, :1], cache)
        again, _ = model.decode_step(idx[:, :1], cache)
    assert new is not cache
    assert_cache_unchanged(before, cache)
    assert torch.equal(first, again)
    assert new.length == cache.length + 1


@pytest.mark.parametrize("variant", ["div2", "div1-noproj", "dhead-one-cluster"])
def test_transxl_decode_with_memory(variant: str) -> None:
    mem_len = 6
    cfg = small_arch("transxl", mem_len=mem_len, **SMALL_VARIANTS[variant])
    model = spread(build_model(cfg))
    idx = tokens(cfg, (2, mem_len + 3))
    with torch.inference_mode():
        full = model(idx, output="all")
        cache = None
        for t in range(idx.size(1)):
            logp, cache = model.decode_step(idx[:, t : t + 1], cache)
            assert cache.length == min(t + 1, mem_len)
            if t <= mem_len:  # total length <= mem_len + 1: the memory holds every token
                assert_fp32_close(logp[:, 0], full[:, t], t)
            else:  # older tokens have left the memory (a check that memory matters at all):
                # far beyond rounding (measured: 4.5 to 19 on log-probabilities of up to 68)
                assert max_scaled_diff(logp[:, 0], full[:, t]) > 1000 * FP32_REL, t
        # A segment of several tokens on top of a memory (relative shift with an offset).
        _, mem = model.decode_step(idx[:, :3])
        logp, _ = model.decode_step(idx[:, 3:6], mem)
        assert_fp32_close(logp[:, 0], full[:, 5], "segment on a memory")


def test_transxl_without_memory() -> None:
    cfg = small_arch("transxl", mem_len=0)
    model = build_model(cfg)
    idx = tokens(cfg, (1, 4))
    with torch.inference_mode():
        _, cache = model.decode_step(idx)
        assert cache.length == 0
        logp2, cache2 = model.decode_step(idx[:, :1], cache)
        alone = model(idx[:, :1])
    assert_fp32_close(logp2, alone, "no memory")
    assert cache2.length == 0


# ---------------------------------------------------------------------- (e) lazy torch
def test_import_does_not_import_torch() -> None:
    code = "import sys, lts.shared, lts.shared.models; assert 'torch' not in sys.modules, 'torch'"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------- ONNX tracing
class _AllLogProbs(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx, output="all")


@pytest.mark.parametrize("backbone", ["gpt2", "transxl"])
def test_onnx_export_matches_with_dynamic_length(backbone: str) -> None:
    """The forward traces to ONNX (TorchScript exporter) and runs at another sequence length."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    cfg = small_arch(backbone, div_val=4)
    wrapped = _AllLogProbs(spread(build_model(cfg)))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped, (tokens(cfg, (1, 12)),), buf, dynamo=False, input_names=["idx"],
            dynamic_axes={"idx": {1: "T"}}, opset_version=17,
        )  # fmt: skip
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    idx = tokens(cfg, (1, 7), seed=3)
    (got,) = session.run(None, {"idx": idx.numpy()})
    with torch.inference_mode():
        want = wrapped(idx).numpy()
    assert got.shape == want.shape == (1, 7, cfg.n_token)
    assert_fp32_close(got, want, "ONNX Runtime vs torch")


# ------------------------------------------------------------ the declarations vs the models
@pytest.mark.parametrize("backbone", backbone_names())
def test_the_declaration_describes_its_model(backbone: str) -> None:
    """The parts of a declaration that are not parameter counts (those are checked above)
    agree with the model it names: its position limit, its decode cache's size and layout,
    the residual layers it names."""
    declared = get_backbone(backbone)
    cfg = small_arch(backbone, mem_len=5) if declared.segment_memory else small_arch(backbone)
    model = build_model(cfg)
    assert isinstance(model, declared.model_class())
    names = [name for name, _ in model.named_modules()]
    for ending in model.residual_out:
        assert any(name.endswith(ending) for name in names), ending
    too_long = tokens(cfg, (1, cfg.tgt_len + 1))
    with torch.inference_mode():
        if declared.learned_positions:
            with pytest.raises(ConfigError, match="seq_len"):
                model(too_long)
        else:
            model(too_long)
        for seq_len in (3, cfg.tgt_len):  # a context below and above a memory of 5
            _, cache = model.decode_step(tokens(cfg, (2, seq_len - 1)))
            flat = cache.flatten()
            held = 2 * (declared.decode_keys(cfg, seq_len) - 1) * declared.cache_width(cfg)
            assert sum(t.numel() for t in flat) == held, seq_len
            again = type(cache).unflatten(flat)
            assert again.length == cache.length
            assert all(a is b for a, b in zip(again.flatten(), flat, strict=True))
