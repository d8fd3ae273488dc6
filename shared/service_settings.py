"""What the settings of both services (``agent serve``, ``controller serve``) share: the log
level and the rule that ``insecure_no_auth`` implies ``no_auth``. pydantic only."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


#: A logging level name, accepted in any case (``info`` from an environment variable).
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]

_TRUE = ("true", "1", "yes", "on")


def insecure_implies_no_auth(data: object) -> object:
    """A settings model's ``mode="before"`` validator: ``insecure_no_auth`` given true (a CLI
    flag or its environment variable) sets ``no_auth`` too, so that one flag both allows an
    open service off loopback and opens it."""
    if isinstance(data, dict) and str(data.get("insecure_no_auth", "")).lower() in _TRUE:
        return {**data, "no_auth": True}
    return data
