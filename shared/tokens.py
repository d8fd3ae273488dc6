"""Bearer tokens, as the agent and the controller read and check them (no web framework
needed here)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from lts.shared.errors import ConfigError

logger = logging.getLogger(__name__)

#: The shortest token either service accepts (``secrets.token_urlsafe(32)`` gives 43).
MIN_TOKEN_CHARS = 16
#: The fewest distinct characters a token must have (``aaaaaaaaaaaaaaaa`` is not a secret).
MIN_DISTINCT_CHARS = 8
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
    if len(set(token)) < MIN_DISTINCT_CHARS:
        raise ConfigError(
            field,
            f"the token in {where} has only {len(set(token))} distinct characters; use a "
            f"random one (make one: {_MAKE_ONE})",
        )
    return token


def token_matches(presented: str | None, expected: str) -> bool:
    """Whether ``presented`` equals ``expected``, compared in constant time."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def derived_secret(token: str, purpose: str) -> str:
    """A value derived from ``token`` for one ``purpose`` (HMAC-SHA256, hex): it proves that
    whoever set it knew the token, but it is not the token and cannot be turned back into it
    (e.g. the dashboard's cookie, which must not carry the write token itself)."""
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class AuthBackoff:
    """Backoff on wrong tokens, per client address (thread safe).

    The first ``free`` wrong tokens from an address cost nothing; each one after that blocks
    the address for twice as long as the one before (1 s, 2 s, 4 s ... up to ``max_block_s``).
    While an address is blocked, requests from it that need a token are refused (429 with
    ``Retry-After``) *without* their token being compared, so guessing is no faster than the
    blocks allow. A right token clears the address's count; an address without a wrong token
    for ``forget_after_s`` starts afresh. At most ``max_addresses`` are remembered (the
    longest quiet first forgotten)."""

    def __init__(
        self,
        *,
        free: int = 10,
        max_block_s: float = 60.0,
        forget_after_s: float = 600.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.max_block_s = max_block_s
        self.forget_after_s = forget_after_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._seen: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def blocked_for(self, address: str | None) -> float:
        """Seconds until ``address`` may present a token again (0: now)."""
        with self._lock:
            entry = self._seen.get(address or "")
            if entry is None:
                return 0.0
            return max(0.0, entry.blocked_until - self._clock())

    def record(self, address: str | None, ok: bool) -> None:
        """Count a token presented by ``address``: right (``ok``) or wrong."""
        key, now = address or "", self._clock()
        with self._lock:
            entry = self._seen.pop(key, None)
            if ok:
                return
            if entry is None or now - entry.last > self.forget_after_s:
                entry = _Failures()
            entry.count += 1
            entry.last = now
            over = entry.count - self.free
            if over > 0:
                entry.blocked_until = now + min(self.max_block_s, 2.0 ** (over - 1))
            self._seen[key] = entry
            while len(self._seen) > self.max_addresses:
                self._seen.popitem(last=False)


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value (whole seconds, at least 1) for ``seconds``."""
    return str(max(1, math.ceil(seconds)))


def check_no_auth(host: str, insecure: bool) -> None:
    """Refuse ``--no-auth`` on an address other machines can reach, unless ``insecure``
    (``--insecure-no-auth``) says the operator means it."""
    if not is_loopback(host) and not insecure:
        raise ConfigError(
            "no-auth",
            f"--host {host} can be reached from other machines: without a token anyone there "
            "could use this service. Give a token, or force it with --insecure-no-auth",
        )
