"""The options of a search, declared once.

:class:`SearchOptions` holds every option that defines a search: its type with its bounds,
and in an :class:`Option` beside the type its help text and where it goes. From it come the
flags of ``controller search`` (:mod:`lts.controller.commands.search`), the body of ``POST
/searches`` (``SearchCreate`` extends it), the help's defaults (read from :class:`SearchConfig`
and :class:`MeasureSettings`, where they are used), the one builder of a :class:`SearchConfig`
from the options given (:func:`build_config`) and the one check of a resume
(:func:`refuse_on_resume`). Adding an option is adding a field here (and to
:class:`SearchConfig` or :class:`MeasureSettings`, which use it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticUndefined

from lts.controller.search import config as c
from lts.controller.search.algorithms import ALGORITHMS
from lts.controller.search.baselines import parse_layers
from lts.controller.search.config import SearchConfig
from lts.shared.backbones import BackboneName
from lts.shared.errors import ConfigError
from lts.shared.objectives import PROXY
from lts.shared.objectives import parse as parse_objectives
from lts.shared.schemas import MeasureSettings
from lts.shared.space import SearchSpace, default_space, load_space

#: The backbone of the default space when none is given.
DEFAULT_BACKBONE = "gpt2"


@dataclass(frozen=True)
class Option:
    """What an option is besides its type.

    ``help``: one sentence, without the default (the help adds it). ``measure``: its name in
    :class:`MeasureSettings` when the option is a measurement override (else it is a field of
    :class:`SearchConfig`, or of the space: ``backbone``, ``space``, ``homogeneous``).
    ``default``: the default as the help says it, where neither model holds it. ``flag``: the
    CLI's flag declaration, where it is not ``--the-name``. ``cli``: the CLI's type, where it
    is not the body's (a file path instead of the object it holds, text to parse)."""

    help: str
    measure: str | None = None
    default: str | None = None
    flag: str | None = None
    cli: Any = None


Text = Annotated[str, Field(max_length=200)]


class SearchOptions(BaseModel):
    """Every option that defines a search; ``None``: not given (the default applies)."""

    model_config = ConfigDict(extra="forbid")

    backbone: Annotated[BackboneName | None, Option("Backbone.", default=DEFAULT_BACKBONE)] = None
    space: Annotated[
        dict[str, Any] | None,
        Option("Search space file (TOML or JSON).", cli=Path),
    ] = None
    homogeneous: Annotated[
        bool | None,
        Option("Default space: all layers share n_head and d_inner.", flag="--homogeneous"),
    ] = None
    objectives: Annotated[
        str | list[str] | None,
        Field(description="names, comma-separated or a list: params (the proxy, first), "
                          "latency, decode_latency, memory"),
        Option("Objectives, the proxy first: params,latency,memory (the paper's); any of "
               "latency, decode_latency (per generated token), memory after params.",
               default="params,latency,memory", cli=str),
    ] = None
    algorithm: Annotated[
        Text | None, Option("Search algorithm: " + " | ".join(ALGORITHMS) + ".")
    ] = None
    proxy: Annotated[Text | None, Option("Perplexity proxy.")] = None
    iterations: Annotated[c.Iterations | None, Option("Iterations.")] = None
    population: Annotated[c.Population | None, Option("Population per iteration.")] = None
    parents: Annotated[
        c.Parents | None, Option("Parents per iteration.", default="20% of --population")
    ] = None
    mutation_prob: Annotated[c.Probability | None, Option("Per-gene mutation probability.")] = None
    start: Annotated[
        c.Start | None,
        Option("Iteration 0's random architectures: spread (evenly over log decoder "
               "parameters) | uniform (the paper's; --algorithm random is always uniform)."),
    ] = None
    seed: Annotated[c.Seed | None, Option("Seed of the search.")] = None
    frontier: Annotated[
        Literal["pareto", "convex"] | None, Option("pareto | convex (lower convex hull).")
    ] = None
    runtime: Annotated[
        Text | None, Option("torch | onnxruntime.", measure="runtime", default="the agent's")
    ] = None
    device_type: Annotated[
        Text | None, Option("cpu | cuda.", measure="device", default="the agent's")
    ] = None
    metric: Annotated[
        Text | None,
        Option("What latency times: prefill | decode (decode: the default objectives become "
               "params,decode_latency,memory; prefer --objectives).", measure="metric"),
    ] = None
    output: Annotated[Text | None, Option("Softmax positions: last | all.", measure="output")] = (
        None
    )
    threads: Annotated[
        int | None,
        Option("Threads per measurement.", measure="threads", default="the agent's"),
    ] = None
    seq_len: Annotated[int | None, Option("Sequence length.", measure="seq_len")] = None
    time_budget_s: Annotated[
        float | None, Option("Time budget per measurement, s.", measure="time_budget_s")
    ] = None
    min_time_s: Annotated[
        float | None, Option("Least timed seconds per measurement.", measure="min_time_s")
    ] = None
    warmup_s: Annotated[float | None, Option("Least warm-up seconds.", measure="warmup_s")] = None
    max_latency_ms: Annotated[
        c.Positive | None, Option("Upper bound on prefill latency (ms).")
    ] = None
    max_decode_latency_ms: Annotated[
        c.Positive | None, Option("Upper bound on decode latency per token (ms).")
    ] = None
    max_memory_mb: Annotated[c.Positive | None, Option("Upper bound on peak memory (MB).")] = None
    min_params: Annotated[
        c.Params | None, Option("Least decoder parameters (checked before measuring).")
    ] = None
    max_params: Annotated[
        c.Params | None, Option("Most decoder parameters (checked before measuring).")
    ] = None
    baselines: Annotated[
        bool | None,
        Option("Measure layer-scaled baselines.", flag="--baselines/--no-baselines"),
    ] = None
    baseline_sizes: Annotated[Literal["paper", "space"] | None, Option("paper | space.")] = None
    baseline_layers: Annotated[
        str | list[int] | None,
        Field(description="'1-16', '2,4,8' or a list"),
        Option("Baseline depths, e.g. 1-16 or 2,4,8.", cli=str),
    ] = None
    final_budget_factor: Annotated[
        c.BudgetFactor | None,
        Option("The final phase's budget per measurement, x the search's (1: its full "
               "protocol)."),
    ] = None
    final_max_members: Annotated[
        c.Members | None,
        Option("Most architectures the final phase measures again (what can change the "
               "frontier, the baselines' matches first)."),
    ] = None
    final_share: Annotated[
        c.Share | None,
        Option("Most share of a device search's wall time its final phase may take (1: no "
               "bound; what does not fit keeps its search-time figures)."),
    ] = None
    screen: Annotated[
        bool | None,
        Option(
            "Skip candidates the cost model predicts dominated by the frontier.",
            flag="--screen/--no-screen",
        ),
    ] = None
    measure_mode: Annotated[
        c.MeasureMode | None,
        Option(
            "quick: decide on a quick measurement; race: the full protocol too where the "
            "quick one leaves frontier membership open; full: the full protocol for every "
            "candidate.",
            flag="--measure",
        ),
    ] = None
    joint: Annotated[
        bool | None,
        Option("One population measured on every agent, its objectives each device's "
               "(latency@pi, memory@pi, latency@laptop, ...): a frontier good on all devices "
               "at once (no screening).", flag="--joint"),
    ] = None
    cross_measure: Annotated[
        bool | None,
        Option("At the end of a search on several agents, measure each device's frontier on "
               "the others (compare devices, pick for several).",
               flag="--cross-measure/--no-cross-measure"),
    ] = None
    batch_size: Annotated[c.BatchSize | None, Option("Items per job sent to an agent.")] = None
    fail_after_s: Annotated[
        c.FailAfter | None, Option("Give a device up after its agent is unreachable this long.")
    ] = None


def options() -> dict[str, Option]:
    """Every option of :class:`SearchOptions` by name, in order."""
    return {
        name: next(m for m in info.metadata if isinstance(m, Option))
        for name, info in SearchOptions.model_fields.items()
    }


def default_text(name: str) -> str | None:
    """The default of option ``name`` as the help says it (``None``: there is none)."""
    option = options()[name]
    if option.default is not None:
        return option.default
    if option.measure is not None:
        value = MeasureSettings.model_fields[option.measure].default
    elif name in SearchConfig.model_fields:
        value = SearchConfig.model_fields[name].default
    else:
        return None
    if value is None or value is PydanticUndefined:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def build_config(agents: list[str], given: dict[str, Any]) -> SearchConfig:
    """The search definition of the options ``given`` (by name; those not given take their
    defaults), as ``controller search`` and ``POST /searches`` alike build it. ``space`` is
    a file's path (the CLI) or the space itself (a request); without it, the paper's space
    of ``backbone``. Invalid values raise :class:`ConfigError` naming the option."""
    values = dict(given)
    space = _space(
        values.pop("space", None), values.pop("backbone", None), values.pop("homogeneous", False)
    )
    measure_names = {o.measure: n for n, o in options().items() if o.measure is not None}
    measure = {o: values.pop(n) for o, n in measure_names.items() if n in values}
    if isinstance(values.get("baseline_layers"), str):
        values["baseline_layers"] = parse_layers(values["baseline_layers"])
    if values.get("objectives") is not None:
        values["objectives"] = list(parse_objectives(values["objectives"]))
    elif measure.get("metric") == "decode":  # no --objectives: decode latency, not prefill
        values["objectives"] = [PROXY, "decode_latency", "memory"]
    try:
        return SearchConfig.build(agents=agents, space=space.to_dict(), measure=measure, **values)
    except ConfigError as exc:  # a measurement setting is named as the option is
        raise ConfigError(measure_names.get(exc.field, exc.field), exc.message) from None


def refuse_on_resume(given: dict[str, Any], spell: Callable[[str], str] = str) -> None:
    """A resumed search keeps its stored settings: refuse any option ``given`` (each named
    by ``spell``, e.g. as a CLI flag)."""
    if given:
        names = ", ".join(spell(name) for name in sorted(given))
        raise ConfigError("resume", f"a stored search keeps its settings; drop {names}")


def _space(
    space: Path | str | dict[str, Any] | None, backbone: str | None, homogeneous: bool
) -> SearchSpace:
    if isinstance(space, dict):  # given inline: its errors are named inside "space"
        try:
            found = SearchSpace.from_dict(space, backbone=backbone)
        except ConfigError as exc:
            field = exc.field if exc.field in ("backbone", "space") else f"space.{exc.field}"
            raise ConfigError(field, exc.message) from None
    elif space is not None:
        found = load_space(space, backbone=backbone)
    else:
        return default_space(backbone or DEFAULT_BACKBONE, homogeneous=homogeneous)
    if homogeneous and not found.homogeneous:
        found = dataclasses.replace(found, homogeneous=True)
    return found
