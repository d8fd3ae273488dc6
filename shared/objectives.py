"""The objectives a search can optimise, declared once.

An :class:`Objective` says what one quantity is: its name, whether a search minimises or
maximises it, its unit, how it is obtained (``computed`` from the configuration, like the
perplexity proxy, or ``measured`` by an agent) and, for a measured one, how its value and
statistics are read off an agent's :class:`~lts.shared.schemas.MeasurementResult` and which
measurement settings it needs. :data:`OBJECTIVES` holds every objective by name; a search
chooses an ordered subset of them (:func:`resolve`), the paper's three by default.

Everything downstream takes the objectives from here: the search carries an ordered vector of
values (:class:`ObjectiveSet`), the store keeps one value per measurement and objective, the
report, the API, the exports, the plots and the dashboard show one column per objective.
Adding an objective is adding its declaration (and, for a measured one, what the agent
reports); an unknown name is an error everywhere.

Values are in the objective's own unit and sense (a latency in ms, the proxy as it is);
:meth:`ObjectiveSet.minimised` turns a vector into one to minimise (maximised ones negated).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lts.shared.errors import ConfigError
from lts.shared.schemas import LatencyStats, MeasurementResult, MeasureSettings

Sense = Literal["min", "max"]
Source = Literal["computed", "measured"]

#: The objective a search's perplexity proxy fills (decoder parameters by default).
PROXY = "params"
#: Joins a measured objective's name and a device's in a joint search's objectives
#: (``latency@pi``: the prefill latency measured on the agent ``pi``).
AT = "@"


@dataclass(frozen=True)
class Objective:
    """One objective (see the module doc).

    ``read(result)``: the measured value in ``unit`` (None: the result does not hold it);
    ``stats(result)``: the statistics stored beside it (median, p10, p90, ... for a latency);
    ``settings(s)``: the measurement settings ``s`` changed so that the agent measures it.
    ``bound``: the search option that caps it (``max_latency_ms``), None if there is none;
    ``column``: its name in flat tables (CSV exports, the API's flat fields).
    ``timed``: a duration that the quick protocol times too (its quick/full uncertainty
    applies). ``features``: the cost model's feature set that predicts it (None: it is not
    predicted)."""

    name: str
    sense: Sense
    unit: str
    label: str
    source: Source
    description: str
    bound: str | None = None
    column: str = ""
    timed: bool = False
    features: str | None = None
    read: Callable[[MeasurementResult], float | None] | None = field(default=None, repr=False)
    stats: Callable[[MeasurementResult], dict[str, Any] | None] | None = field(
        default=None, repr=False
    )
    settings: Callable[[MeasureSettings], MeasureSettings] | None = field(
        default=None, repr=False
    )

    @property
    def measured(self) -> bool:
        return self.source == "measured"

    @property
    def heading(self) -> str:
        """A column heading: label and unit (``prefill latency (ms)``)."""
        return f"{self.label} ({self.unit})"


def _prefill(result: MeasurementResult) -> LatencyStats | None:
    return result.latency_ms if result.settings.metric == "prefill" else None


def _decode(result: MeasurementResult) -> LatencyStats | None:
    if result.settings.metric == "decode":
        return result.latency_ms
    return result.decode_latency_ms


def _median(stats: Callable[[MeasurementResult], LatencyStats | None]) -> Callable[..., Any]:
    def read(result: MeasurementResult) -> float | None:
        s = stats(result)
        return None if s is None else s.median

    return read


def _latency_stats(
    stats: Callable[[MeasurementResult], LatencyStats | None],
) -> Callable[..., Any]:
    def read(result: MeasurementResult) -> dict[str, Any] | None:
        s = stats(result)
        return None if s is None else s.model_dump()

    return read


def _needs_prefill(s: MeasureSettings) -> MeasureSettings:
    if s.metric != "prefill":
        raise ConfigError(
            "objectives",
            "latency is the prefill latency, but the settings time decode (metric decode): "
            "use the objective decode_latency",
        )
    return s


def _needs_decode(s: MeasureSettings) -> MeasureSettings:
    return s if s.metric == "decode" else s.model_copy(update={"decode": True})


def _needs_memory(s: MeasureSettings) -> MeasureSettings:
    return s.model_copy(update={"measure_memory": True})


def _memory(result: MeasurementResult) -> float | None:
    return result.peak_memory_mb


#: Every objective, by name, in the order results show them.
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective(
            PROXY, "max", "params", "decoder parameters", "computed",
            "the perplexity proxy: decoder (non-embedding) parameters, counted from the "
            "configuration (another proxy with --proxy)", column="proxy",
        ),
        Objective(
            "latency", "min", "ms", "prefill latency", "measured",
            "median time of one forward pass over seq_len tokens (the time to the first token)",
            bound="max_latency_ms", column="latency_ms", timed=True, features="prefill",
            read=_median(_prefill), stats=_latency_stats(_prefill), settings=_needs_prefill,
        ),
        Objective(
            "decode_latency", "min", "ms", "decode latency", "measured",
            "median time to generate one token after a cached context of seq_len - 1 tokens "
            "(the time per generated token)",
            bound="max_decode_latency_ms", column="decode_latency_ms", timed=True,
            features="decode",
            read=_median(_decode), stats=_latency_stats(_decode), settings=_needs_decode,
        ),
        Objective(
            "memory", "min", "MiB", "peak memory", "measured",
            "peak resident memory of building the model and one forward pass, above the "
            "measuring process's baseline",
            bound="max_memory_mb", column="peak_memory_mb", features="memory", read=_memory,
            settings=_needs_memory,
        ),
    )
}  # fmt: skip

#: The paper's objectives, a search's default.
DEFAULT_OBJECTIVES: tuple[str, ...] = (PROXY, "latency", "memory")


def get(name: str) -> Objective:
    """The objective ``name``; ConfigError (field ``objectives``) for an unknown one."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        known = ", ".join(OBJECTIVES)
        message = f"unknown objective {name!r}; choose from {known}"
        raise ConfigError("objectives", message) from None


def split(name: str) -> tuple[str, str | None]:
    """``latency@pi`` as ``("latency", "pi")``; a plain name as ``(name, None)``."""
    base, at, device = name.partition(AT)
    return base, (device if at else None)


def qualified(name: str, device: str) -> str:
    """The name of objective ``name`` measured on ``device`` in a joint search."""
    return f"{name}{AT}{device}"


def measured() -> list[Objective]:
    """Every measured objective, in declaration order (what a result is read for)."""
    return [o for o in OBJECTIVES.values() if o.measured]


def parse(text: str | Sequence[str]) -> tuple[str, ...]:
    """Objective names from ``params,latency,memory`` (or a list of names), checked: known,
    each once, at least two, the proxy first and at least one measured objective."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    for name in names:
        get(name)
    if len(set(names)) != len(names):
        raise ConfigError("objectives", f"an objective is named twice: {','.join(names)}")
    if len(names) < 2:
        raise ConfigError("objectives", "give at least two objectives, e.g. params,latency")
    if names[0] != PROXY:
        raise ConfigError("objectives", f"the first objective is the proxy, {PROXY!r}")
    return tuple(names)


@dataclass(frozen=True)
class ObjectiveSet:
    """A search's objectives, in order (the proxy first), with the proxy's sense: a vector of
    values (one per objective, in its unit) is what the search carries for each candidate.

    A joint search (one population measured on several devices, :meth:`joint`) has each
    measured objective once per device, qualified by the device (``latency@pi``); every
    query below answers by position, so the algorithms need not know which kind they get."""

    names: tuple[str, ...] = DEFAULT_OBJECTIVES
    proxy_higher_is_better: bool = True

    def __post_init__(self) -> None:
        bases = [split(n)[0] for n in self.names]
        if any(split(n)[1] == "" for n in self.names):
            raise ConfigError("objectives", "a qualified objective names its device: latency@pi")
        if len(set(self.names)) != len(self.names):
            raise ConfigError("objectives", f"an objective is named twice: {','.join(self.names)}")
        parse(list(dict.fromkeys(bases)))

    @classmethod
    def joint(cls, base: ObjectiveSet, devices: Sequence[str]) -> ObjectiveSet:
        """``base``'s objectives for a joint search on ``devices``: the proxy, then each
        measured objective of ``base`` per device (``latency@a``, ``memory@a``, ``latency@b``,
        ...)."""
        if len(set(devices)) != len(devices) or len(devices) < 2:
            raise ConfigError("agents", "a joint search needs two or more distinct devices")
        names = [base.names[0]]
        names += [qualified(n, d) for d in devices for n in base.names[1:]]
        return cls(tuple(names), base.proxy_higher_is_better)

    @property
    def is_joint(self) -> bool:
        return any(split(n)[1] is not None for n in self.names)

    @property
    def objectives(self) -> list[Objective]:
        """The declared objective of each name (a qualified one's base), in order."""
        return [get(split(n)[0]) for n in self.names]

    @property
    def measured(self) -> list[Objective]:
        return [o for o in self.objectives if o.measured]

    @property
    def measured_names(self) -> tuple[str, ...]:
        """The names of the measured objectives, in order (qualified in a joint search)."""
        return tuple(n for n, o in zip(self.names, self.objectives, strict=True) if o.measured)

    def __len__(self) -> int:
        return len(self.names)

    def sense(self, name: str) -> Sense:
        if name == PROXY:
            return "max" if self.proxy_higher_is_better else "min"
        return get(split(name)[0]).sense

    @property
    def signs(self) -> tuple[float, ...]:
        """+1 for a minimised objective, -1 for a maximised one."""
        return tuple(1.0 if self.sense(n) == "min" else -1.0 for n in self.names)

    def minimised(self, values: Sequence[float]) -> list[float]:
        """``values`` (in this order) as a vector to minimise."""
        return [s * float(v) for s, v in zip(self.signs, values, strict=True)]

    def vector(self, proxy: float, measured: Mapping[str, float]) -> tuple[float, ...] | None:
        """The value vector of a candidate with proxy score ``proxy`` and ``measured`` values
        (by name); None when a measured objective is missing or not finite."""
        out = [float(proxy)]
        for name in self.names[1:]:
            value = measured.get(name)
            if value is None or not math.isfinite(value):
                return None
            out.append(float(value))
        return tuple(out)

    def settings(self, settings: MeasureSettings) -> MeasureSettings:
        """``settings`` changed so that every measured objective is measured (and memory is
        measured only when it is an objective)."""
        s = settings.model_copy(update={"measure_memory": False, "decode": False})
        for o in self.measured:
            if o.settings is not None:
                s = o.settings(s)
        return s


def read_values(result: MeasurementResult) -> dict[str, float]:
    """Every measured objective's value that ``result`` holds (as it is: a search treats a
    value that is not finite as no value)."""
    out: dict[str, float] = {}
    for o in measured():
        value = o.read(result) if o.read is not None else None
        if value is not None:
            out[o.name] = float(value)
    return out


def read_stats(result: MeasurementResult) -> dict[str, dict[str, Any]]:
    """Every measured objective's statistics that ``result`` holds."""
    out: dict[str, dict[str, Any]] = {}
    for o in measured():
        stats = o.stats(result) if o.stats is not None else None
        if stats is not None:
            out[o.name] = stats
    return out
