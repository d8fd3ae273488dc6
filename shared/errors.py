"""The one error hierarchy of LTS.

Every error the project raises on purpose derives from :class:`LTSError`. Library code raises
these; only the edges (CLI commands, HTTP routes) turn them into exit codes or status codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class LTSError(Exception):
    """Base class of every error LTS raises on purpose."""


class ConfigError(LTSError, ValueError):
    """An architecture config, search space or setting is invalid.

    ``field`` names the offending field (dotted for nested values, e.g. ``n_head[3]``) so that
    a CLI can print it and a REST route can return it in a 422 body.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def field_path(loc: Sequence[object]) -> str | None:
    """A validation error's location as the client wrote the input, without the part of the
    request it came from: ``("query", "limit")`` -> ``limit``; ``("body", "items", 0,
    "settings", "threads")`` -> ``items[0].settings.threads``."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or (str(loc[0]) if loc else None)


def validation_error(exc: ValidationError, fallback: str) -> ConfigError:
    """A model's values that did not validate, as a :class:`ConfigError` naming the first bad
    field by its path (:func:`field_path`), or ``fallback`` where the error has no location."""
    err = exc.errors()[0]
    return ConfigError(field_path(err["loc"]) or fallback, err["msg"])


def option_error(exc: ValidationError) -> ConfigError:
    """A command's settings that did not validate, as a :class:`ConfigError` naming the first
    bad value by its command-line option (``max_body_bytes`` -> ``--max-body-bytes``)."""
    err = exc.errors()[0]
    option = "--" + "-".join(str(p) for p in err["loc"]).replace("_", "-")
    return ConfigError(option, err["msg"])


class BuildError(LTSError):
    """A model could not be built from a valid config (e.g. out of memory, unsupported runtime)."""


class MeasurementError(LTSError):
    """A measurement failed: the worker crashed, timed out or was refused."""


class InfrastructureFault(MeasurementError):
    """A measurement failed for a reason outside the model: a helper killed from outside
    (not by the kernel's out-of-memory killer), out of files or disk, the agent shutting
    down. Measuring the same item again may well work; it says nothing about the model."""


class StoreError(LTSError):
    """The result store could not read or write (wraps database errors)."""


class StoreUnavailable(StoreError):
    """The store cannot take writes now, for a reason outside the data (the database stayed
    locked past every retry, or its disk is full): what was asked may work later as it is."""


class StoreBusy(StoreUnavailable):
    """The database stayed locked or busy (another writer) past the store's retries."""


class StoreFull(StoreUnavailable):
    """The database cannot grow: its disk (or its size limit) is full."""


class CorruptRowError(StoreError):
    """A stored row cannot be read back (a JSON column that does not parse): the store's
    content, not the database, is at fault; retrying will not help."""


class NotFoundError(LTSError, LookupError):
    """What was asked for by id or name does not exist (a search, architecture, device, plot)."""


class SearchConflict(LTSError):
    """A search cannot be started, resumed or stopped in its present state (e.g. it runs
    already, or is done)."""


class AgentError(LTSError):
    """An agent could not be reached or answered with an error."""
