"""The value sets of a search space's genes: their checks and their file forms (a list, one
integer or a ``{min, max, step}`` range), for :mod:`lts.shared.space`."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from lts.shared.errors import ConfigError

#: Sanity bounds of a space (far above any real one; a space may come from a request): the
#: values of one gene, a width, the vocabulary or the sequence length. Ranges are checked
#: before they are expanded.
MAX_GENE_VALUES = 65_536
MAX_WIDTH = 1 << 20


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def value_set(name: str, value: Any) -> tuple[int, ...]:
    """A gene's values (a list or one integer) checked, sorted and without duplicates."""
    if is_int(value):
        value = (value,)
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(name, f"must be a non-empty list of positive integers, got {value!r}")
    if len(value) > MAX_GENE_VALUES:
        raise ConfigError(name, f"at most {MAX_GENE_VALUES} values, got {len(value)}")
    for i, item in enumerate(value):
        if not is_int(item) or not 1 <= item <= MAX_WIDTH:
            raise ConfigError(f"{name}[{i}]", f"must be an integer from 1 to {MAX_WIDTH}, "
                              f"got {item!r}")  # fmt: skip
    return tuple(sorted(set(value)))


def parse_values(name: str, value: Any) -> Any:
    """A gene's file form (list, single integer or {min, max, step} range) as a tuple."""
    if not isinstance(value, dict):
        return tuple(value) if isinstance(value, list) else value
    for key in value:
        if key not in ("min", "max", "step"):
            raise ConfigError(f"{name}.{key}", "unknown key; a range has min, max and step")
    parts = {"step": 1, **value}
    for key in ("min", "max", "step"):
        if key not in parts:
            raise ConfigError(f"{name}.{key}", "is required in a range")
        if not is_int(parts[key]) or parts[key] < 1:
            raise ConfigError(f"{name}.{key}", f"must be a positive integer, got {parts[key]!r}")
    if parts["min"] > parts["max"]:
        raise ConfigError(name, f"min = {parts['min']} is above max = {parts['max']}")
    count = (parts["max"] - parts["min"]) // parts["step"] + 1
    if count > MAX_GENE_VALUES:  # before the range is expanded
        raise ConfigError(name, f"a range of at most {MAX_GENE_VALUES} values, got {count}")
    return tuple(range(parts["min"], parts["max"] + 1, parts["step"]))


def encode_values(values: tuple[int, ...]) -> Any:
    """A value set in its file form: a ``{min, max, step}`` range when it is an arithmetic
    progression of three or more values, else a list."""
    if len(values) >= 3:
        step = values[1] - values[0]
        if all(b - a == step for a, b in pairwise(values)):
            return {"min": values[0], "max": values[-1], "step": step}
    return list(values)
