"""Bearer tokens, as the agent and the controller read and check them (no web framework
needed here)."""

from __future__ import annotations

import hmac
import logging
import stat
from pathlib import Path

from pydantic import SecretStr

from shared.errors import ConfigError

logger = logging.getLogger(__name__)


def read_token(token_file: Path | None, token: SecretStr | None, *, env_var: str) -> str | None:
    """The configured token, or None when neither ``token_file`` nor ``token`` is given.

    ``token_file`` wins over ``token`` (which comes from the variable ``env_var``, named in the
    messages); surrounding white space is dropped. Raises :class:`ConfigError` (field
    ``token-file`` or ``token``) when the file cannot be read or the token is empty; warns when
    the file is readable by group or others.
    """
    if token_file is not None:
        path = token_file.expanduser()
        try:
            text = path.read_text().strip()
            mode = path.stat().st_mode
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ConfigError("token-file", f"cannot read {path}: {reason}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("token file %s is readable by others (chmod 600 it)", path)
        if not text:
            raise ConfigError("token-file", f"{path} is empty")
        return text
    if token is not None:
        text = token.get_secret_value().strip()
        if not text:
            raise ConfigError("token", f"{env_var} is empty")
        return text
    return None


def token_matches(presented: str | None, expected: str) -> bool:
    """Whether ``presented`` equals ``expected``, compared in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())
