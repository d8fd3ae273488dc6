"""ArchConfig: canonical form, content id, table round trip, validation errors."""

from __future__ import annotations

import json

import pytest

from lts.controller.tables import read_table
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError

BASE = {
    "backbone": "gpt2",
    "n_layer": 3,
    "d_model": 256,
    "n_head": 4,
    "d_inner": 1024,
    "d_embed": 128,
    "div_val": 2,
}


def test_homogeneous_scalars_and_lists_give_the_same_id() -> None:
    a = ArchConfig.from_dict(BASE)
    b = ArchConfig.from_dict({**BASE, "n_head": [4, 4, 4], "d_inner": [1024] * 3})
    assert a == b
    assert a.arch_id == b.arch_id
    assert a.n_head == (4, 4, 4)


def test_key_order_does_not_change_the_id() -> None:
    reordered = dict(reversed(list(BASE.items())))
    assert ArchConfig.from_dict(reordered).arch_id == ArchConfig.from_dict(BASE).arch_id


def test_default_spelled_out_gives_the_same_id() -> None:
    a = ArchConfig.from_dict(BASE)
    b = ArchConfig.from_dict({**BASE, "d_head": 64, "tie_projs": [False, True, True]})
    assert a.arch_id == b.arch_id
    c = ArchConfig.from_dict({**BASE, "d_head": -1, "d_embed": 128, "mem_len": 192})
    assert c.arch_id == a.arch_id  # GPT-2 has no memory: mem_len normalised to 0


def test_different_architectures_have_different_ids() -> None:
    ids = {
        ArchConfig.from_dict(BASE).arch_id,
        ArchConfig.from_dict({**BASE, "n_head": [4, 4, 8]}).arch_id,
        ArchConfig.from_dict({**BASE, "d_inner": [1024, 1024, 1088]}).arch_id,
        ArchConfig.from_dict({**BASE, "backbone": "transxl"}).arch_id,
        ArchConfig.from_dict({**BASE, "div_val": 4}).arch_id,
    }
    assert len(ids) == 5


def test_canonical_json_round_trip() -> None:
    a = ArchConfig.from_dict({**BASE, "n_head": [2, 4, 8]})
    assert ArchConfig.from_json(a.canonical_json()) == a
    assert json.loads(a.canonical_json())["n_head"] == [2, 4, 8]


def test_config_is_immutable_and_hashable() -> None:
    a = ArchConfig.from_dict(BASE)
    with pytest.raises(AttributeError):
        a.n_layer = 4  # type: ignore[misc]
    assert len({a, ArchConfig.from_dict(BASE)}) == 1


def test_replace_validates_and_resets_cluster_flags() -> None:
    a = ArchConfig.from_dict(BASE)
    b = a.replace(n_layer=2, n_head=[2, 8], d_inner=[512, 640])
    assert b.n_layer == 2 and b.n_head == (2, 8)
    c = a.replace(cutoffs=[1000])
    assert c.tie_projs == (False, True)
    with pytest.raises(ConfigError):
        a.replace(n_layer=2)  # per-layer lists no longer match


@pytest.mark.parametrize(
    "table", ["random_GPT2_wt103.jsonl", "random_TransXL_lm1b.jsonl", "random_GPT2_lm1b.jsonl"]
)
def test_published_tables_read_and_write_back(tables_dir, table) -> None:
    rows = read_table(tables_dir / table)
    assert len(rows) >= 183
    for row in rows:
        assert row.error is None, row.error
        cfg = row.arch
        assert cfg is not None
        again = ArchConfig.from_dict(cfg.to_table_arch(), backbone=row.backbone)
        assert again == cfg and again.arch_id == cfg.arch_id
        # what the source wrote: per-layer lists as given, -1 spellings resolved
        assert list(cfg.n_head) == row.raw["arch"]["n_head"]
        assert cfg.cutoffs == tuple(c for c in row.raw["arch"]["cutoffs"] if c < cfg.n_token)


def test_table_cutoffs_above_the_vocabulary_are_ignored() -> None:
    cfg = ArchConfig.from_dict(
        {**BASE, "n_token": 50264, "cutoffs": [19997, 39997, 199997, 50264]}
    )
    assert cfg.cutoffs == (19997, 39997)
    assert cfg.cluster_bounds == (0, 19997, 39997, 50264)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"backbone": "lstm"}, "backbone", "gpt2, transxl"),
        ({"n_head": [4, 3, 4]}, "n_head[1]", "not divisible"),
        ({"n_head": [4, 4]}, "n_head", "n_layer = 3"),
        ({"d_inner": [1024, 0, 1024]}, "d_inner[1]", "positive"),
        ({"d_model": -64}, "d_model", ">= 1"),
        ({"n_layer": 0}, "n_layer", ">= 1"),
        ({"cutoffs": [39997, 19997]}, "cutoffs[1]", "increasing"),
        ({"cutoffs": [0, 100]}, "cutoffs[0]", "increasing"),
        ({"tie_projs": [True]}, "tie_projs", "one per cluster"),
        ({"div_val": 0}, "div_val", ">= 1"),
        ({"d_embed": 8, "div_val": 4}, "div_val", "width"),
        ({"attn_type": 2}, "attn_type", "only 0"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"n_layer": "3"}, "n_layer", "integer"),
        ({"tie_weight": "yes"}, "tie_weight", "boolean"),
    ],
)
def test_invalid_input_names_the_field(change, field, words) -> None:
    with pytest.raises(ConfigError) as info:
        ArchConfig.from_dict({**BASE, **change})
    assert info.value.field == field
    assert words in info.value.message


def test_missing_backbone_and_bad_json() -> None:
    with pytest.raises(ConfigError) as info:
        ArchConfig.from_dict({k: v for k, v in BASE.items() if k != "backbone"})
    assert info.value.field == "backbone"
    with pytest.raises(ConfigError):
        ArchConfig.from_json("{not json")
    with pytest.raises(ConfigError):
        ArchConfig.from_dict([1, 2])  # type: ignore[arg-type]


def test_explicit_head_width_allows_non_divisible_heads() -> None:
    cfg = ArchConfig.from_dict({**BASE, "n_head": [3, 4, 6], "d_head": 32})
    assert cfg.d_head == 32
    assert [cfg.attn_dim(i) for i in range(3)] == [96, 128, 192]
