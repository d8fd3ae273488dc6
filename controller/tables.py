"""Tables of trained models in the JSON-lines format of the published LTS tables.

One JSON object per line: ``id``, ``backbone`` (a registered backbone, :mod:`lts.shared.backbones`:
``gpt2`` | ``transxl``), ``arch`` (an architecture as :meth:`lts.shared.config.ArchConfig.from_dict`
reads it), and optionally ``dataset``, ``params`` (counts as the source reported them),
``valid_ppl`` and ``test_ppl``. This is the
project's own input format for trained-model tables (see README, "Tables of trained models").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError, LTSError


@dataclass(frozen=True)
class TableRow:
    """One row of a table. ``arch`` is None when the row's architecture is invalid; ``error``
    then says why (rows are reported, never silently dropped)."""

    index: int
    id: str
    backbone: str | None
    arch: ArchConfig | None
    error: str | None = None
    dataset: str | None = None
    params: dict[str, int] = field(default_factory=dict)
    valid_ppl: float | None = None
    test_ppl: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_row(index: int, obj: Any) -> TableRow:
    """Parse one decoded JSON line; invalid architectures become rows with ``error`` set."""
    if not isinstance(obj, dict):
        return TableRow(index, str(index), None, None, error="line is not a JSON object")
    row_id = str(obj.get("id", index))
    backbone = obj.get("backbone")
    arch: ArchConfig | None = None
    error: str | None = None
    try:
        arch = ArchConfig.from_dict(obj.get("arch", obj), backbone=backbone)
    except ConfigError as exc:
        error = str(exc)
    return TableRow(
        index=index,
        id=row_id,
        backbone=backbone,
        arch=arch,
        error=error,
        dataset=obj.get("dataset"),
        params=dict(obj.get("params") or {}),
        valid_ppl=obj.get("valid_ppl"),
        test_ppl=obj.get("test_ppl"),
        raw=obj,
    )


def iter_table(path: str | Path) -> Iterator[TableRow]:
    """Rows of a JSON-lines table, in file order. Blank lines are skipped.

    Raises :class:`LTSError` naming the line when a line is not valid JSON.
    """
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        index = 0
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LTSError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
            yield parse_row(index, obj)
            index += 1


def read_table(path: str | Path) -> list[TableRow]:
    """All rows of a JSON-lines table (see :func:`iter_table`)."""
    return list(iter_table(path))
