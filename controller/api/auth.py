"""The controller token: where it comes from (requests are checked with
:func:`lts.shared.tokens.token_matches`)."""

from __future__ import annotations

from lts.controller.api.settings import Settings
from lts.shared.errors import ConfigError
from lts.shared.tokens import check_no_auth, read_token


def load_token(settings: Settings) -> str | None:
    """The token mutating requests (and, if so configured, reads) must present; None when
    none is configured or with ``no_auth``.

    ``token_file`` wins over ``token`` (``LTS_CONTROLLER_TOKEN``); surrounding white space is
    dropped. Raises :class:`ConfigError` for an unreadable or short token, for ``no_auth``
    together with ``read_token`` or on a host that is not loopback (without
    ``insecure_no_auth``), and when reads need a token (``read_token``, or a host that
    is not loopback) but none is configured.
    """
    if settings.no_auth:
        if settings.read_token:
            raise ConfigError("read-token", "contradicts --no-auth")
        check_no_auth(settings.host, settings.insecure_no_auth)
        return None
    token = read_token(settings.token_file, settings.token, env_var="LTS_CONTROLLER_TOKEN")
    if token is None and settings.reads_need_token:
        why = "--read-token" if settings.read_token else f"--host {settings.host} is not loopback"
        raise ConfigError(
            "token",
            f"reads need the controller token ({why}) but none is given: use --token-file or "
            "LTS_CONTROLLER_TOKEN (or --open-reads to serve reads without a token)",
        )
    return token
