"""The search space: validity of everything it generates, determinism, size, file format."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

from lts.controller.search.operators import crossover, mutate, sample
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.params import decoder_params
from lts.shared.space import SearchSpace, default_space, load_space
from lts.shared.space_checks import MAX_SPACE_WORK, space_work

SPACES = {
    f"{backbone}-{'homo' if homogeneous else 'hetero'}": default_space(backbone, homogeneous)
    for backbone in ("gpt2", "transxl")
    for homogeneous in (False, True)
}
space_ids = pytest.mark.parametrize("space", SPACES.values(), ids=SPACES.keys())


def assert_valid_member(space: SearchSpace, cfg: ArchConfig) -> None:
    """Every promise about a generated config, checked without trusting contains()."""
    assert isinstance(cfg, ArchConfig)
    assert ArchConfig.from_dict(cfg.to_dict()) == cfg  # passes validation again
    assert space.violation(cfg) is None
    assert cfg.backbone == space.backbone and cfg.d_head is None
    assert cfg.n_layer in space.n_layer and cfg.d_model in space.d_model
    assert cfg.d_embed in space.d_embed and cfg.div_val in space.div_val
    assert len(cfg.n_head) == len(cfg.d_inner) == cfg.n_layer
    bound = space.d_inner_min_factor * cfg.d_model
    for h, x in zip(cfg.n_head, cfg.d_inner, strict=True):
        assert h in space.n_head and cfg.d_model % h == 0
        assert x in space.d_inner and x >= bound
    if space.homogeneous:
        assert len(set(cfg.n_head)) == 1 and len(set(cfg.d_inner)) == 1
    assert cfg.mem_len == (0 if space.backbone == "gpt2" else 192)
    assert (cfg.n_token, cfg.cutoffs, cfg.tgt_len) == (50257, (19997, 39997), 192)


def arch(**fields) -> ArchConfig:
    return ArchConfig.from_dict({"backbone": "gpt2", "d_embed": 128, **fields})


def generate(space: SearchSpace, seed: int, n: int = 40) -> list[ArchConfig]:
    rng = np.random.default_rng(seed)
    samples = [sample(space, rng) for _ in range(n)]
    mutants = [mutate(space, c, rng, 0.3) for c in samples]
    children = [crossover(space, a, b, rng) for a, b in zip(samples, mutants, strict=True)]
    return samples + mutants + children


# ----------------------------------------------------------------------------- determinism
@space_ids
def test_same_seed_gives_the_same_samples_mutants_and_children(space) -> None:
    assert generate(space, seed=7) == generate(space, seed=7)
    assert generate(space, seed=7) != generate(space, seed=8)


# -------------------------------------------------------------------------------- validity
@space_ids
def test_a_thousand_samples_are_valid_members_covering_every_value(space) -> None:
    rng = np.random.default_rng(0)
    samples = [sample(space, rng) for _ in range(1000)]
    for cfg in samples:
        assert_valid_member(space, cfg)
    assert {c.n_layer for c in samples} == set(space.n_layer)
    assert {c.d_model for c in samples} == set(space.d_model)
    assert {c.div_val for c in samples} == set(space.div_val)
    assert {h for c in samples for h in c.n_head} == set(space.n_head)
    if not space.homogeneous:  # 256 is drawn only at d_model 128: too rare for 1000 draws
        assert {x for c in samples for x in c.d_inner} == set(space.d_inner)


@space_ids
def test_mutants_and_children_are_valid_members(space) -> None:
    rng = np.random.default_rng(1)
    population = [sample(space, rng) for _ in range(100)]
    for i in range(500):
        parent = population[i % 100]
        mutant = mutate(space, parent, rng, float(rng.random()))
        assert_valid_member(space, mutant)
        child = crossover(space, parent, population[(7 * i + 3) % 100], rng)
        assert_valid_member(space, child)


def test_sampling_reaches_every_architecture_of_a_small_space() -> None:
    space = SearchSpace(
        backbone="gpt2",
        n_layer=(1, 2),
        d_model=(4, 8),
        d_embed=(8,),
        div_val=(1,),
        n_head=(1, 2),
        d_inner=(8, 12, 16),
        d_inner_min_factor=1.5,
    )
    rng = np.random.default_rng(0)
    seen = {sample(space, rng).arch_id for _ in range(3000)}
    assert len(seen) == space.size() == len(brute_force_ids(space))


# -------------------------------------------------------------------------------- mutation
@space_ids
def test_mutation_with_prob_0_returns_the_parent(space) -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        cfg = sample(space, rng)
        assert mutate(space, cfg, rng, 0.0) == cfg


@space_ids
def test_mutation_with_prob_1_changes_every_gene(space) -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        cfg = sample(space, rng)
        mutant = mutate(space, cfg, rng, 1.0)
        assert mutant != cfg
        for name in ("n_layer", "d_model", "d_embed", "div_val"):
            assert getattr(mutant, name) != getattr(cfg, name)
        for i in range(min(cfg.n_layer, mutant.n_layer)):
            assert mutant.n_head[i] != cfg.n_head[i]
            assert mutant.d_inner[i] != cfg.d_inner[i]


def test_mutation_resamples_each_gene_with_the_given_probability() -> None:
    space = SPACES["gpt2-hetero"]
    rng = np.random.default_rng(4)
    parents = [sample(space, rng) for _ in range(2000)]
    mutants = [mutate(space, p, rng, 0.3) for p in parents]
    for name in ("n_layer", "d_model", "d_embed", "div_val"):
        changed = np.mean(
            [getattr(m, name) != getattr(p, name) for p, m in zip(parents, mutants, strict=True)]
        )
        assert 0.26 < changed < 0.34, name


def test_mutation_keeps_layers_valid_when_d_model_grows() -> None:
    space = SPACES["gpt2-hetero"]
    small = arch(n_layer=4, d_model=128, n_head=[2, 4, 8, 2], d_inner=[256, 320, 4096, 256])
    grown = [mutate(space, small, np.random.default_rng(s), 0.2) for s in range(300)]
    assert any(m.d_model > 128 for m in grown)
    for m in grown:
        assert_valid_member(space, m)
        assert all(x >= 2 * m.d_model for x in m.d_inner)


def test_mutation_rejects_configs_outside_the_space_and_bad_probabilities() -> None:
    space = SPACES["gpt2-hetero"]
    rng = np.random.default_rng(0)
    outside = arch(n_layer=2, d_model=96, n_head=2, d_inner=256)
    with pytest.raises(ConfigError) as err:
        mutate(space, outside, rng, 0.5)
    assert err.value.field == "arch" and "d_model" in str(err.value)
    for prob in (-0.1, 1.5, True):
        with pytest.raises(ConfigError) as err:
            mutate(space, sample(space, rng), rng, prob)
        assert err.value.field == "prob"


# ------------------------------------------------------------------------------- crossover
@space_ids
def test_children_only_have_their_parents_genes(space) -> None:
    rng = np.random.default_rng(5)
    from_a = 0
    for _ in range(300):
        a, b = sample(space, rng), sample(space, rng)
        child = crossover(space, a, b, rng)
        for name in ("n_layer", "d_model", "d_embed", "div_val"):
            assert getattr(child, name) in (getattr(a, name), getattr(b, name))
        from_a += child.n_layer == a.n_layer
        for gene in ("n_head", "d_inner"):
            ga, gb, gc = getattr(a, gene), getattr(b, gene), getattr(child, gene)
            assert set(gc) <= set(ga) | set(gb)
            valid = set(
                space.heads_for(child.d_model)
                if gene == "n_head"
                else space.d_inner_for(child.d_model)
            )
            for i, value in enumerate(gc):
                j = 0 if space.homogeneous else i  # homogeneous: one gene for all layers
                same_layer = {g[j] for g in (ga, gb) if j < len(g)} & valid
                if same_layer:
                    assert value in same_layer, (gene, i)
    assert 100 < from_a < 250  # about half of the n_layer genes (ties count for a)


def test_crossover_of_a_config_with_itself_returns_it() -> None:
    space = SPACES["transxl-hetero"]
    rng = np.random.default_rng(6)
    for _ in range(20):
        cfg = sample(space, rng)
        assert crossover(space, cfg, cfg, rng) == cfg


# ------------------------------------------------------------------------------------ size
def brute_force_ids(space: SearchSpace) -> set[str]:
    """Every config spelled from the raw value sets, kept when valid and in the space."""
    ids = set()
    genes = itertools.product(space.n_layer, space.d_model, space.d_embed, space.div_val)
    for n_layer, d_model, d_embed, div_val in genes:
        per_layer = itertools.product(
            itertools.product(space.n_head, repeat=n_layer),
            itertools.product(space.d_inner, repeat=n_layer),
        )
        for n_head, d_inner in per_layer:
            try:
                cfg = ArchConfig.from_dict(
                    {
                        "backbone": space.backbone,
                        "n_layer": n_layer,
                        "d_model": d_model,
                        "n_head": list(n_head),
                        "d_inner": list(d_inner),
                        "d_embed": d_embed,
                        "div_val": div_val,
                    }
                )
            except ConfigError:
                continue
            if space.contains(cfg):
                ids.add(cfg.arch_id)
    return ids


@pytest.mark.parametrize("homogeneous", [False, True])
def test_size_matches_a_brute_force_count(homogeneous) -> None:
    space = SearchSpace(
        backbone="transxl",
        n_layer=(1, 2, 3),
        d_model=(4, 6, 8),
        d_embed=(8,),
        div_val=(1, 2),
        n_head=(1, 2, 4),
        d_inner=(4, 8, 12, 16),
        d_inner_min_factor=1.5,
        homogeneous=homogeneous,
    )
    assert space.size() == len(brute_force_ids(space))
    # Per-layer choices k(d_model): 4 -> 3 heads x 3 d_inner, 6 -> 2 x 2, 8 -> 3 x 2; 2 div_val.
    k = (9, 4, 6)
    by_hand = sum(x**n for x in k for n in (1, 2, 3)) if not homogeneous else 3 * sum(k)
    assert space.size() == 2 * by_hand


def test_size_of_the_default_spaces() -> None:
    """The exact size of the paper's space as specified (d_inner step 64, bound 2 x d_model) is
    about 3.3 x 10^37, not the "over 10^54" the paper states; no reading of its value sets
    with step 64 reaches 10^54. The published tables' d_inner values are not multiples of 64:
    the source drew d_inner at step 1, and with step 1 the space does exceed 10^54."""
    gpt2 = default_space("gpt2")
    assert gpt2.size() == 33475650863462411705404173477556309557
    assert 10**37 < gpt2.size() < 10**38
    assert default_space("transxl").size() == gpt2.size()
    assert default_space("gpt2", homogeneous=True).size() == 285525
    step_1 = dataclasses.replace(gpt2, d_inner=tuple(range(256, 4097)))
    assert step_1.size() > 10**54
    paper_code = dataclasses.replace(gpt2, d_inner_min_factor=1.7)
    assert paper_code.size() > gpt2.size()


def test_the_d_inner_bound_is_exact_for_decimal_factors() -> None:
    space = dataclasses.replace(SPACES["gpt2-hetero"], d_inner_min_factor=1.7)
    assert space.d_inner_bound(640) == 1088  # 1.7 * 640 in floating point is 1088.0000000000002
    assert space.d_inner_for(640)[0] == 1088
    assert SPACES["gpt2-hetero"].d_inner_for(1024) == tuple(range(2048, 4097, 64))


# ------------------------------------------------------------------------------ membership
def test_contains_rejects_what_the_space_cannot_generate() -> None:
    space = SPACES["gpt2-hetero"]
    good = arch(n_layer=2, d_model=256, n_head=[2, 8], d_inner=[512, 640])
    assert space.contains(good)
    assert not space.contains(good.replace(d_inner=[448, 640]))  # below 2 x d_model
    assert not space.contains(good.replace(d_inner=[520, 640]))  # not on the step-64 grid
    assert not space.contains(good.replace(backbone="transxl", mem_len=192))
    assert not space.contains(good.replace(n_token=50264))
    assert not space.contains(good.replace(d_head=64))
    assert not SPACES["gpt2-homo"].contains(good)  # layers differ
    assert SPACES["gpt2-homo"].contains(good.replace(n_head=8, d_inner=512))


def test_reference_architectures_bracket_every_sample() -> None:
    for space in SPACES.values():
        small, mid, large = space.smallest(), space.middle(), space.largest()
        for cfg in (small, mid, large):
            assert_valid_member(space, cfg)
        lo, hi = decoder_params(small), decoder_params(large)
        assert lo < decoder_params(mid) < hi
        rng = np.random.default_rng(9)
        assert all(lo <= decoder_params(sample(space, rng)) <= hi for _ in range(300))
    gpt2 = SPACES["gpt2-hetero"]
    assert (gpt2.smallest().n_layer, gpt2.smallest().d_model, gpt2.smallest().d_inner) == (
        2,
        128,
        (256, 256),
    )
    assert (gpt2.largest().n_layer, gpt2.largest().d_model, gpt2.largest().d_inner[0]) == (
        16,
        1024,
        4096,
    )


# ----------------------------------------------------------------------------- file format
TOML_SPACE = """
backbone = "transxl"
homogeneous = true
n_layer = { min = 2, max = 8, step = 2 }
d_model = [256, 512]
d_embed = 256
div_val = [1, 4]
n_head = [4, 8]
d_inner = { min = 512, max = 2048, step = 128 }
d_inner_min_factor = 1.7
mem_len = 64
"""


def test_load_space_reads_toml(tmp_path) -> None:
    path = tmp_path / "space.toml"
    path.write_text(TOML_SPACE)
    space = load_space(path)
    assert space == SearchSpace(
        backbone="transxl",
        homogeneous=True,
        n_layer=(2, 4, 6, 8),
        d_model=(256, 512),
        d_embed=(256,),
        div_val=(1, 4),
        n_head=(4, 8),
        d_inner=tuple(range(512, 2049, 128)),
        d_inner_min_factor=1.7,
        mem_len=64,
    )
    assert space.d_inner_for(512) == tuple(range(896, 2049, 128))
    cfg = sample(space, np.random.default_rng(0))
    assert cfg.mem_len == 64 and space.contains(cfg)


@pytest.mark.parametrize("space", [*SPACES.values(), None], ids=[*SPACES.keys(), "custom"])
def test_to_dict_round_trips_through_a_json_file(tmp_path, space) -> None:
    if space is None:
        space = SearchSpace(
            backbone="gpt2",
            n_layer=(3, 5, 6),
            d_model=(64, 128, 192),
            cutoffs=(1000, 20000, 40000),
            tie_weight=False,
        )
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space.to_dict()))
    assert load_space(path) == space
    assert load_space(path, backbone=space.backbone) == space


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"backbone": "bert"}, "backbone"),
        ({"n_head": [2, 0]}, "n_head[1]"),
        ({"n_layer": []}, "n_layer"),
        ({"d_model": "128..1024"}, "d_model"),
        ({"d_model": {"min": 128, "max": 1024, "stride": 64}}, "d_model.stride"),
        ({"d_model": {"min": 128}}, "d_model.max"),
        ({"d_model": {"min": 128, "max": 1024, "step": 0}}, "d_model.step"),
        ({"d_model": {"min": 1024, "max": 128}}, "d_model"),
        ({"n_head": [3]}, "n_head"),  # divides no d_model
        ({"d_inner": {"min": 256, "max": 1024, "step": 64}}, "d_inner"),  # below 2 x 1024
        ({"d_inner_min_factor": -1}, "d_inner_min_factor"),
        ({"d_inner_min_factor": "2"}, "d_inner_min_factor"),
        ({"div_val": [1, 1024]}, "div_val"),
        ({"homogeneous": "yes"}, "homogeneous"),
        ({"mem_len": 192}, "mem_len"),  # GPT-2 has no memory
        ({"tie_projs": [False, True]}, "tie_projs"),
        ({"cutoffs": [40000, 20000]}, "cutoffs[1]"),
        ({"n_token": 0}, "n_token"),
    ],
)
def test_invalid_space_files_name_the_field(tmp_path, settings, field) -> None:
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"backbone": "gpt2", **settings}))
    with pytest.raises(ConfigError) as err:
        load_space(path)
    assert err.value.field == field, str(err.value)


def test_space_files_that_do_not_parse_or_lack_the_backbone(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('backbone = "gpt2"\nn_head = [2, 4\n')
    with pytest.raises(ConfigError) as err:
        load_space(bad)
    assert err.value.field == "space" and "TOML" in str(err.value)
    bare = tmp_path / "bare.toml"
    bare.write_text("n_head = [2, 4]\n")
    with pytest.raises(ConfigError) as err:
        load_space(bare)
    assert err.value.field == "backbone"
    assert load_space(bare, backbone="gpt2").n_head == (2, 4)
    other = tmp_path / "transxl.json"
    other.write_text('{"backbone": "transxl"}')
    with pytest.raises(ConfigError) as err:
        load_space(other, backbone="gpt2")  # conflicts with the file
    assert err.value.field == "backbone"
    with pytest.raises(OSError):
        load_space(tmp_path / "missing.toml")


def test_space_is_immutable_and_hashable() -> None:
    space = default_space("gpt2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        space.n_layer = (2,)  # type: ignore[misc]
    assert hash(space) == hash(default_space("gpt2"))
    assert space != default_space("gpt2", homogeneous=True)


#: Review 2026-12-07, F8: 400 bytes within every per-gene bound, 83 s and 4.2 GB per check.
BIG_SPACE = {
    "backbone": "gpt2", "n_layer": {"min": 1, "max": 1024, "step": 1},
    "d_model": {"min": 64, "max": 524288, "step": 64}, "d_embed": [64, 128, 256],
    "div_val": [1, 2, 4], "n_head": [1, 2, 4, 8, 16, 32, 64],
    "d_inner": {"min": 16, "max": 1048576, "step": 16}, "n_token": 1048576, "tgt_len": 1048576,
}  # fmt: skip


def test_a_space_too_costly_to_check_is_refused_before_its_value_sets_are_crossed() -> None:
    with pytest.raises(ConfigError, match=r"too large to check: 8,192 d_model values") as info:
        SearchSpace.from_dict(BIG_SPACE)
    assert info.value.field == "space" and "at most 4,194,304" in str(info.value)


def test_the_largest_space_within_the_bound_is_checked_and_sized() -> None:
    edge = {**BIG_SPACE, "d_model": {"min": 64, "max": 64 * 60, "step": 64}}
    space = SearchSpace.from_dict(edge)
    assert space_work(space) <= MAX_SPACE_WORK
    assert space.size().bit_length() > 19_000  # 1,024 layers: a number of ~5,800 digits
    assert space.smallest().n_layer == 1 and space.largest().n_layer == 1024
