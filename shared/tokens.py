"""Bearer tokens, as the agent and the controller read and check them (no web framework
needed here)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import stat
from pathlib import Path

from pydantic import SecretStr

from lts.shared.errors import ConfigError

logger = logging.getLogger(__name__)

#: The shortest token either service accepts (``secrets.token_urlsafe(32)`` gives 43).
MIN_TOKEN_CHARS = 16
_MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name) is this machine only:
    ``localhost`` or a loopback IP address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def read_token(token_file: Path | None, token: SecretStr | None, *, env_var: str) -> str | None:
    """The configured token, or None when neither ``token_file`` nor ``token`` is given.

    ``token_file`` wins over ``token`` (which comes from the variable ``env_var``, named in the
    messages); surrounding white space is dropped. Raises :class:`ConfigError` (field
    ``token-file`` or ``token``) when the file cannot be read or the token is shorter than
    :data:`MIN_TOKEN_CHARS`; warns when the file is readable by group or others.
    """
    if token_file is not None:
        path = token_file.expanduser()
        text = read_token_file(path, "token-file")
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("token file %s is readable by others (chmod 600 it)", path)
        return _long_enough(text, "token-file", str(path))
    if token is not None:
        text = token.get_secret_value().strip()
        if not text:
            raise ConfigError("token", f"{env_var} is empty")
        return _long_enough(text, "token", env_var)
    return None


def read_token_file(path: Path, field: str) -> str:
    """The token in the file ``path`` (surrounding white space dropped). Raises
    :class:`ConfigError` on ``field`` when the file cannot be read or holds only white space."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(field, f"cannot read {path}: {reason}") from None
    if not text:
        raise ConfigError(field, f"{path} is empty")
    return text


def _long_enough(token: str, field: str, where: str) -> str:
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            field,
            f"the token in {where} has {len(token)} characters; use at least "
            f"{MIN_TOKEN_CHARS} (make one: {_MAKE_ONE})",
        )
    return token


def token_matches(presented: str | None, expected: str) -> bool:
    """Whether ``presented`` equals ``expected``, compared in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def check_no_auth(host: str, insecure: bool) -> None:
    """Refuse ``--no-auth`` on an address other machines can reach, unless ``insecure``
    (``--insecure-no-auth``) says the operator means it."""
    if not is_loopback(host) and not insecure:
        raise ConfigError(
            "no-auth",
            f"--host {host} can be reached from other machines: without a token anyone there "
            "could use this service. Give a token, or force it with --insecure-no-auth",
        )
