"""The backbone registry: the one lookup, unknown names refused everywhere, the declarations'
own checks (no torch involved)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from lts.shared.backbones import Backbone, backbone_names, get_backbone, register
from lts.shared.backbones import gpt2 as gpt2_decl
from lts.shared.backbones import transxl as transxl_decl
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError
from lts.shared.space import SearchSpace, default_space

BASE: dict[str, Any] = {"n_layer": 2, "d_model": 64, "n_head": 2, "d_inner": 128}


def parts(**changes: Any) -> dict[str, Any]:
    """Every part of a declaration (GPT-2's), with ``changes``."""
    base = get_backbone("gpt2")
    out = {
        "name": "gpt2-like",
        "title": "GPT-2-like",
        "attention_params": base.attention_params,
        "feed_forward_params": base.feed_forward_params,
        "layer_norm_params": base.layer_norm_params,
        "learned_positions": True,
        "segment_memory": False,
        "decode_keys": base.decode_keys,
        "cache_width": base.cache_width,
    }
    out.update(changes)
    return out


def test_the_registered_backbones() -> None:
    assert backbone_names() == ("gpt2", "transxl")
    assert get_backbone("gpt2") is gpt2_decl.GPT2_BACKBONE
    assert get_backbone("transxl") is transxl_decl.TRANSXL_BACKBONE
    assert get_backbone("gpt2").model == "lts.shared.models.gpt2:GPT2"
    assert get_backbone("transxl").default_mem_len == 192


@pytest.mark.parametrize(
    "make",
    [
        lambda: get_backbone("llama"),
        lambda: get_backbone(None),  # type: ignore[arg-type]
        lambda: get_backbone(["gpt2"]),  # type: ignore[arg-type]
        lambda: ArchConfig.from_dict({**BASE, "backbone": "llama"}),
        lambda: ArchConfig.from_dict({**BASE, "backbone": "GPT2"}),
        lambda: ArchConfig(backbone="llama", n_layer=1, d_model=64, n_head=(2,),
                           d_inner=(128,), d_embed=64, tie_projs=(False, True, True)),
        lambda: ArchConfig.from_dict({**BASE, "backbone": "gpt2"}).replace(backbone="llama"),
        lambda: SearchSpace(backbone="llama"),
        lambda: SearchSpace.from_dict({"backbone": "llama"}),
        lambda: default_space("llama"),
    ],
)  # fmt: skip
def test_an_unknown_backbone_is_a_config_error_everywhere(make: Any) -> None:
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.field == "backbone"
    assert "must be one of gpt2, transxl" in info.value.message


def test_a_declaration_lacking_a_part_fails_when_declared() -> None:
    with pytest.raises(TypeError, match="cache_width"):
        Backbone(**{k: v for k, v in parts().items() if k != "cache_width"})


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"name": ""}, "needs a name"),
        ({"segment_memory": True}, "default_mem_len"),  # memory without a default length
        ({"default_mem_len": 192}, "default_mem_len"),  # a default length without memory
        ({"model": "lts.shared.models.gpt2.GPT2"}, "module:Class"),
    ],
)
def test_a_declaration_checks_itself(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Backbone(**parts(**changes))


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(Backbone(**parts(name="gpt2")))
    assert get_backbone("gpt2") is gpt2_decl.GPT2_BACKBONE


def test_the_rules_come_from_the_declaration() -> None:
    gpt2, transxl = get_backbone("gpt2"), get_backbone("transxl")
    cfg = ArchConfig.from_dict({**BASE, "backbone": "gpt2", "tgt_len": 32})
    assert gpt2.position_params(cfg) == 32 * 64
    assert transxl.position_params(cfg) == 0
    gpt2.check_seq_len(cfg, 32)
    with pytest.raises(ConfigError, match="exceeds the GPT-2 position table") as info:
        gpt2.check_seq_len(cfg, 33)
    assert info.value.field == "seq_len"
    transxl.check_seq_len(cfg, 4096)  # relative positions: any length
    transxl.check_mem_len(5)
    with pytest.raises(ConfigError, match="GPT-2 has no segment memory") as info:
        gpt2.check_mem_len(5)
    assert info.value.field == "mem_len"


def test_decode_cache_parts() -> None:
    cfg = ArchConfig.from_dict({**BASE, "backbone": "transxl", "mem_len": 8})
    xl = get_backbone("transxl")
    assert xl.decode_keys(cfg, 4) == 4  # memory of 3 and the new position
    assert xl.decode_keys(cfg, 100) == 9  # memory of 8 and the new position
    assert xl.cache_width(cfg) == 2 * 64  # every layer's input
    gpt2_cfg = cfg.replace(backbone="gpt2")
    assert get_backbone("gpt2").decode_keys(gpt2_cfg, 100) == 100
    assert get_backbone("gpt2").cache_width(gpt2_cfg) == 2 * 2 * 64  # keys and values


def test_a_model_less_backbone_says_so_before_importing_torch() -> None:
    with pytest.raises(ConfigError, match="declares no model") as info:
        Backbone(**parts()).model_class()
    assert info.value.field == "backbone"


def test_the_registry_does_not_import_torch() -> None:
    code = (
        "import sys, lts.shared.backbones as b; b.get_backbone('gpt2'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
