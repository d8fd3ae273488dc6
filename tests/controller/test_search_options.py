"""The options of a search, declared once (controller.search.options): the CLI's flags and the
body of POST /searches come from them, and one builder makes the search's definition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.main import get_command

from lts.controller.api.schemas import SearchCreate
from lts.controller.cli import app
from lts.controller.search.config import SearchConfig, default_parents
from lts.controller.search.options import build_config, default_text, options, refuse_on_resume
from lts.shared.errors import ConfigError
from lts.shared.schemas import MeasureSettings, MeasureSettingsIn
from lts.shared.space import default_space

SPACE = {"backbone": "gpt2", "n_layer": {"min": 1, "max": 3}, "d_model": [64, 128]}


def test_every_option_is_a_flag_of_controller_search_with_its_default_in_the_help() -> None:
    params = {p.name: p for p in get_command(app).commands["search"].params}  # type: ignore[attr-defined]
    for name in options():
        assert params[name].default is None, name  # not given: the search's default applies
        default = default_text(name)
        if default is not None:
            assert f"(default: {default})" in (params[name].help or ""), name
    assert default_text("iterations") == "30" and default_text("seq_len") == "192"
    assert default_text("baselines") == "yes" and default_text("max_params") is None
    assert default_text("parents") == "20% of --population"


@pytest.mark.parametrize(
    ("population", "parents"), [(2, 1), (3, 1), (4, 1), (8, 2), (12, 2), (13, 3), (100, 20)]
)
def test_parents_default_to_a_fifth_of_the_population_and_are_stored(
    population: int, parents: int
) -> None:
    assert default_parents(population) == parents
    config = build_config(["a"], {"population": population})
    assert config.parents == parents
    assert SearchConfig(**config.model_dump()).model_dump()["parents"] == parents  # as stored
    assert build_config(["a"], {}).parents == 20  # the paper's 20 of 100
    body = SearchCreate(agents=["a"], population=population).given()
    assert build_config(["a"], body).parents == parents  # POST /searches alike


def test_explicit_parents_are_checked_against_the_population() -> None:
    assert build_config(["a"], {"population": 8, "parents": 0}).parents == 0
    with pytest.raises(ConfigError, match=r"must be in \[0, population = 8\), got 20"):
        build_config(["a"], {"population": 8, "parents": 20})


def test_a_space_file_and_the_same_space_inline_make_the_same_search(tmp_path: Path) -> None:
    file = tmp_path / "space.json"
    file.write_text(json.dumps(SPACE))
    given = {"iterations": 3, "population": 6, "parents": 2, "device_type": "cpu", "seq_len": 64,
             "baseline_layers": "1-3", "homogeneous": True}  # fmt: skip
    from_file = build_config(["a"], {**given, "space": file})
    inline = build_config(["a"], {**given, "space": SPACE})
    assert from_file == inline
    assert inline.measure == {"device": "cpu", "seq_len": 64}  # by their settings' names
    assert inline.baseline_layers == [1, 2, 3] and inline.search_space().homogeneous
    assert build_config(["a"], {}).space == default_space("gpt2").to_dict()


@pytest.mark.parametrize(
    ("given", "field"),
    [({"device_type": "tpu"}, "device_type"), ({"threads": 0}, "threads"),
     ({"population": 4, "parents": 10}, "parents"),
     ({"baseline_layers": "3-1"}, "baseline_layers"), ({"space": {"n_layer": [1]}}, "backbone"),
     ({"space": {**SPACE, "n_layer": [0]}}, "space.n_layer[0]"), ({"start": "sobol"}, "start")],
)  # fmt: skip
def test_invalid_options_are_named_as_given(given: dict, field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_config(["a"], given)
    assert exc.value.field == field


def test_the_start_is_stored_and_reaches_the_algorithm() -> None:
    assert build_config(["a"], {}).algorithm_params().start == "spread"
    config = build_config(["a"], {"start": "uniform"})
    assert SearchConfig(**config.model_dump()).algorithm_params().start == "uniform"
    body = SearchCreate(agents=["a"], start="uniform").given()
    assert build_config(["a"], body).start == "uniform"  # POST /searches alike


def test_a_resumed_search_takes_no_option() -> None:
    refuse_on_resume({})
    with pytest.raises(ConfigError) as exc:
        refuse_on_resume({"seq_len": 1, "seed": 2}, spell=lambda n: "--" + n.replace("_", "-"))
    assert exc.value.field == "resume" and exc.value.message.endswith("drop --seed, --seq-len")


def test_the_body_is_the_options_and_who_runs_them() -> None:
    assert list(SearchCreate.model_fields) == ["agents", "name", "resume", *options()]
    body = SearchCreate(agents=["a"], name="n", iterations=3, baseline_layers=[1, 2])
    assert body.given() == {"iterations": 3, "baseline_layers": [1, 2]}


def test_measure_settings_in_is_measure_settings_with_every_field_optional() -> None:
    full = MeasureSettings.model_json_schema()["properties"]
    overrides = MeasureSettingsIn.model_json_schema()["properties"]
    assert list(overrides) == list(full)
    for name, schema in overrides.items():
        given, none = schema["anyOf"]
        assert none == {"type": "null"} and schema["default"] is None
        assert given == {k: v for k, v in full[name].items() if k not in ("default", "title")}
    assert MeasureSettingsIn().resolve(MeasureSettings(seq_len=7)).seq_len == 7


def test_a_space_too_costly_to_check_is_named_space_once() -> None:
    """A request's inline space names its errors inside "space" ("space.d_model"); the cost of
    the whole space is "space" itself, not "space.space"."""
    from lts.controller.search.options import build_config
    from lts.shared.errors import ConfigError

    big = {"backbone": "gpt2", "d_model": {"min": 64, "max": 524288, "step": 64},
           "d_inner": {"min": 16, "max": 1048576, "step": 16}}  # fmt: skip
    with pytest.raises(ConfigError, match="too large to check") as info:
        build_config(["a"], {"space": big})
    assert info.value.field == "space"
