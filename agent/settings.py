"""The agent's settings: one pydantic-settings class, from CLI options and ``LTS_AGENT_*``.

Precedence: explicit values (the CLI passes its options) over environment variables over the
defaults below. Nothing here touches the machine; :mod:`lts.agent.device` resolves the defaults
that depend on it (the memory budget, the cores of each slot).
"""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lts.shared.schemas import DeviceKind, MeasureSettings, Runtime
from lts.shared.service_settings import LogLevel, insecure_implies_no_auth


class Settings(BaseSettings):
    """Everything ``agent serve`` can be told (env var = ``LTS_AGENT_`` + the upper-case name).

    ``threads``, ``runtime`` and ``device`` are the defaults of every measurement that does not
    override them. ``memory_budget_mb`` is the most memory one measurement may need by the estimate
    (``None``: half of the memory available at start-up, divided among the slots). ``max_queue``
    bounds the unfinished items of all jobs together, ``max_items_per_job`` one request's batch,
    ``max_body_bytes`` a request body, which must arrive whole within ``body_timeout_s`` (408), at
    most ``max_body_connections`` of them being read at once (503 beyond). Finished jobs are kept
    for ``keep_jobs_s`` seconds, at most ``keep_jobs`` of them. Connections: closed when idle
    ``keep_alive_s`` after a response or without a complete request head ``header_timeout_s`` after
    opening (or after the last response, however slowly its bytes arrive); past ``max_connections``
    the longest-idle are closed (see :mod:`lts.shared.connections`). ``helper_start_timeout_s``
    bounds a measurement helper's start (importing the runtimes, warm-up); ``item_allowance_s``
    replaces the seconds an item may take beyond its ``time_budget_s`` (``None``: a base plus a term
    per parameter, see :meth:`lts.agent.measure.Measurer.allowance_s`). Slow or emulated devices
    raise both. ``simulate``: a surrogate device file; the agent then answers every item from it
    instead of measuring (:mod:`lts.agent.simulate`), sleeping ``simulate_speed`` times the
    protocol's time (0: answer at once).
    """

    model_config = SettingsConfigDict(env_prefix="LTS_AGENT_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8900, ge=1, le=65535)
    name: str = Field(default_factory=socket.gethostname, min_length=1, max_length=200)
    token: SecretStr | None = None
    token_file: Path | None = None
    no_auth: bool = False
    insecure_no_auth: bool = False
    threads: int = Field(1, ge=1, le=256)
    runtime: Runtime = "torch"
    device: DeviceKind = "cpu"
    memory_budget_mb: float | None = Field(None, gt=0)
    slots: int = Field(1, ge=1, le=256)
    max_queue: int = Field(1000, ge=1)
    max_items_per_job: int = Field(256, ge=1)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    body_timeout_s: float = Field(30.0, gt=0, le=3600)
    max_body_connections: int = Field(32, ge=1, le=100_000)
    keep_jobs: int = Field(100, ge=1)
    keep_jobs_s: float = Field(6 * 3600, gt=0)
    keep_alive_s: float = Field(5.0, gt=0, le=3600)
    header_timeout_s: float = Field(10.0, gt=0, le=3600)
    max_connections: int = Field(1000, ge=16, le=1_000_000)
    helper_start_timeout_s: float = Field(180.0, gt=0)
    item_allowance_s: float | None = Field(None, gt=0)
    log_level: LogLevel = "INFO"
    simulate: Path | None = None
    simulate_speed: float = Field(0.0, ge=0, le=100)

    _insecure_is_no_auth = model_validator(mode="before")(insecure_implies_no_auth)

    def measure_defaults(self) -> MeasureSettings:
        """The measurement settings a request gets for every field it does not override."""
        return MeasureSettings(threads=self.threads, runtime=self.runtime, device=self.device)
