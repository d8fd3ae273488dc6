"""The agent's bearer token: where it comes from and how a request's token is checked."""

from __future__ import annotations

import hmac
import logging
import stat

from agent.settings import Settings
from shared.errors import ConfigError

logger = logging.getLogger(__name__)


def load_token(settings: Settings) -> str | None:
    """The token requests must present, or None with ``no_auth`` (the caller warns about it).

    ``token_file`` wins over ``token`` (the ``LTS_AGENT_TOKEN`` variable); surrounding white
    space is dropped. Raises :class:`ConfigError` when neither is given, the file cannot be
    read or the token is empty.
    """
    if settings.no_auth:
        return None
    if settings.token_file is not None:
        path = settings.token_file.expanduser()
        try:
            token = path.read_text().strip()
            mode = path.stat().st_mode
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ConfigError("token-file", f"cannot read {path}: {reason}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("token file %s is readable by others (chmod 600 it)", path)
        if not token:
            raise ConfigError("token-file", f"{path} is empty")
        return token
    if settings.token is not None:
        token = settings.token.get_secret_value().strip()
        if not token:
            raise ConfigError("token", "LTS_AGENT_TOKEN is empty")
        return token
    raise ConfigError(
        "token", "a token is required: --token-file PATH or LTS_AGENT_TOKEN (or --no-auth)"
    )


def token_matches(presented: str | None, expected: str) -> bool:
    """Whether ``presented`` equals ``expected``, compared in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())
