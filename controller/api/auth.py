"""The controller token: where it comes from and how a request's token is checked."""

from __future__ import annotations

import hmac
import logging
import stat

from controller.api.settings import Settings
from shared.errors import ConfigError

logger = logging.getLogger(__name__)


def load_token(settings: Settings) -> str | None:
    """The token mutating requests (and, if so configured, reads) must present; None when
    none is configured or with ``no_auth``.

    ``token_file`` wins over ``token`` (``LTS_CONTROLLER_TOKEN``); surrounding white space is
    dropped. Raises :class:`ConfigError` for an unreadable or empty token, for ``no_auth``
    together with ``read_token``, and when reads need a token (``read_token``, or a host that
    is not loopback) but none is configured.
    """
    if settings.no_auth:
        if settings.read_token:
            raise ConfigError("read-token", "contradicts --no-auth")
        return None
    token = _read(settings)
    if token is None and settings.reads_need_token:
        why = "--read-token" if settings.read_token else f"--host {settings.host} is not loopback"
        raise ConfigError(
            "token",
            f"reads need the controller token ({why}) but none is given: use --token-file or "
            "LTS_CONTROLLER_TOKEN (or --open-reads to serve reads without a token)",
        )
    return token


def _read(settings: Settings) -> str | None:
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
            raise ConfigError("token", "LTS_CONTROLLER_TOKEN is empty")
        return token
    return None


def token_matches(presented: str | None, expected: str) -> bool:
    """Whether ``presented`` equals ``expected``, compared in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())
