"""The agent's bearer token: where it comes from (requests are checked with
:func:`lts.shared.tokens.token_matches`)."""

from __future__ import annotations

from lts.agent.settings import Settings
from lts.shared.errors import ConfigError
from lts.shared.tokens import check_no_auth, read_token


def load_token(settings: Settings) -> str | None:
    """The token requests must present, or None with ``no_auth`` (the caller warns about it).

    ``token_file`` wins over ``token`` (the ``LTS_AGENT_TOKEN`` variable); surrounding white
    space is dropped. Raises :class:`ConfigError` when neither is given, the file cannot be
    read or the token is short, and for ``no_auth`` on a host that is not loopback (unless
    ``insecure_no_auth``).
    """
    if settings.no_auth:
        check_no_auth(settings.host, settings.insecure_no_auth)
        return None
    token = read_token(settings.token_file, settings.token, env_var="LTS_AGENT_TOKEN")
    if token is None:
        raise ConfigError(
            "token", "a token is required: --token-file PATH or LTS_AGENT_TOKEN (or --no-auth)"
        )
    return token
