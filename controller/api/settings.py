"""The settings of ``controller serve``: one pydantic-settings class, ``LTS_CONTROLLER_*``.

Precedence: explicit values (the CLI passes its options) over environment variables over the
defaults below. ``controller serve`` also takes the store from ``--db``/``LTS_DB`` and the
agents file from ``--agents-file``/``LTS_AGENTS_FILE``, like the other commands.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lts.shared.service_settings import LogLevel, insecure_implies_no_auth
from lts.shared.tokens import is_loopback


class Settings(BaseSettings):
    """Everything ``controller serve`` can be told (env var = ``LTS_CONTROLLER_`` + the
    upper-case name, e.g. ``LTS_CONTROLLER_TOKEN``).

    Authorisation: ``POST`` requests need the controller token (``token_file`` wins over
    ``token``); without one they are refused (403) unless ``no_auth``, which a host that is not
    loopback refuses unless ``insecure_no_auth`` (which implies ``no_auth``). ``read_token`` decides
    whether ``GET`` requests need it too: None (the default) means "only when ``host`` is not
    a loopback address". ``GET /health`` and the OpenAPI pages never need it.
    ``agent_token_file`` is the token of agents given by URL in ``POST /searches`` (named
    agents take theirs from the agents file); only the URLs in ``allow_agent_urls`` may be
    given (the server sends tokens to no address a request chooses). ``agent_timeout_s``
    bounds the live check of ``GET /agents``; ``stop_wait_s`` how long
    ``POST /searches/{id}/stop`` waits for the search to wind down before answering 202.
    ``max_body_bytes`` bounds a request body (413 beyond, before it is read), which must
    arrive whole within ``body_timeout_s`` (408), at most ``max_body_connections`` of them
    being read at once (503 beyond);
    ``export_max_params`` bounds the parameters of the model files one export may hold (a
    200 M-parameter model is 800 MB), ``max_exports`` the model-file exports built at once;
    ``keep_alive_s`` closes a connection idle that long after a response; ``max_connections``
    bounds the connections served at once.
    """

    model_config = SettingsConfigDict(env_prefix="LTS_CONTROLLER_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8800, ge=1, le=65535)
    db: str | None = None
    agents_file: Path | None = None
    agent_token_file: Path | None = None
    allow_agent_urls: tuple[str, ...] = ()
    token: SecretStr | None = None
    token_file: Path | None = None
    no_auth: bool = False
    insecure_no_auth: bool = False
    read_token: bool | None = None
    agent_timeout_s: float = Field(2.0, gt=0, le=60)
    stop_wait_s: float = Field(10.0, ge=0, le=300)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    body_timeout_s: float = Field(30.0, gt=0, le=3600)
    max_body_connections: int = Field(32, ge=1, le=100_000)
    export_max_params: int = Field(500_000_000, ge=1)
    max_exports: int = Field(1, ge=1, le=64)
    keep_alive_s: float = Field(5.0, gt=0, le=3600)
    max_connections: int = Field(1000, ge=1)
    log_level: LogLevel = "INFO"

    _insecure_is_no_auth = model_validator(mode="before")(insecure_implies_no_auth)

    @property
    def loopback(self) -> bool:
        """Whether ``host`` is a loopback address (only this machine can connect)."""
        return is_loopback(self.host)

    @property
    def reads_need_token(self) -> bool:
        if self.no_auth:
            return False
        return self.read_token if self.read_token is not None else not self.loopback
