"""The CLI edge: domain errors become one line on stderr and exit code 1, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from shared.errors import LTSError


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
