"""The CLI edge: domain errors become one line on stderr and exit code 1, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from lts.controller.store import MAX_ID
from lts.shared.errors import ConfigError, LTSError


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`LTSError` (and unreadable files) into ``error: ...`` and ``typer.Exit(1)``."""
    try:
        yield
    except LTSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None


def check_range(field: str, value: int | None, low: int = 1, high: int = MAX_ID) -> None:
    """Refuse ``value`` outside ``low..high`` (by default: a stored id) with a
    :class:`ConfigError` naming ``field``, before anything is opened."""
    if value is not None and not low <= value <= high:
        raise ConfigError(field, f"must be from {low} to {high}, got {value}")
