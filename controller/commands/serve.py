"""``controller serve``: the results REST API (FastAPI + uvicorn; OpenAPI at /docs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from lts.controller.commands._edge import user_errors
from lts.controller.commands.report import DbOption
from lts.controller.commands.search import AgentsFileOpt
from lts.shared.errors import option_error

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)


def _opt(help_text: str, *names: str, env: str | None = None) -> Any:
    envvar = f"LTS_CONTROLLER_{env}" if env else None
    return typer.Option(*names, help=help_text, envvar=envvar, show_default=False)


def serve(
    host: Annotated[
        str | None, _opt("Interface to listen on (default: 127.0.0.1).", env="HOST")
    ] = None,
    port: Annotated[int | None, _opt("TCP port (default: 8800).", env="PORT")] = None,
    db: DbOption = None,
    agents_file: AgentsFileOpt = None,
    token_file: Annotated[
        Path | None,
        _opt("File holding the controller token (else LTS_CONTROLLER_TOKEN).", env="TOKEN_FILE"),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth", help="Let anyone start and stop searches (loopback addresses only)."
        ),
    ] = False,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="--no-auth even on an address other machines reach (anyone there may start "
            "and stop searches).",
        ),
    ] = False,
    read_token: Annotated[
        bool | None,
        _opt(
            "Whether GET requests need the token too (default: only when --host is not a "
            "loopback address).",
            "--read-token/--open-reads",
            env="READ_TOKEN",
        ),
    ] = None,
    agent_token_file: Annotated[
        Path | None,
        typer.Option(
            help="Token file of agents given as URLs in POST /searches.",
            envvar="LTS_AGENT_TOKEN_FILE",
            show_default=False,
        ),
    ] = None,
    allow_agent_url: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-agent-url",
            help="An agent URL that POST /searches may name (repeat for more); by default "
            "only the names of the agents file.",
            show_default=False,
        ),
    ] = None,
    agent_timeout_s: Annotated[
        float | None, _opt("Live check timeout of GET /agents (default: 2).", env="AGENT_TIMEOUT_S")
    ] = None,
    log_level: Annotated[
        str | None, _opt("debug, info, warning or error (default: info).", env="LOG_LEVEL")
    ] = None,
) -> None:
    """Serve the store over REST: searches, frontiers, candidates, architectures, devices,
    agents; start and stop searches (OpenAPI at /docs)."""
    given = {
        "host": host, "port": port, "db": db, "agents_file": agents_file,
        "token_file": token_file, "no_auth": no_auth or None, "read_token": read_token,
        "insecure_no_auth": insecure_no_auth or None,
        "agent_token_file": agent_token_file, "agent_timeout_s": agent_timeout_s,
        "allow_agent_urls": tuple(allow_agent_url) if allow_agent_url else None,
        "log_level": log_level,
    }  # fmt: skip
    from lts.controller.api.main import create_app
    from lts.shared.web import run_server
    from lts.shared.web_origin import LoopbackHosts

    with user_errors():
        settings = _settings({k: v for k, v in given.items() if v is not None})
        logging.getLogger().setLevel(settings.log_level)  # the root callback set the format
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per agent poll
        app = create_app(settings)
    if settings.loopback:  # a page whose DNS name was rebound to 127.0.0.1 reads nothing
        app.add_middleware(LoopbackHosts, bind_host=settings.host)
    if settings.no_auth:
        logger.warning("--no-auth: anyone who can reach %s:%d may start and stop searches",
                       settings.host, settings.port)  # fmt: skip
    run_server(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        graceful_shutdown_s=int(settings.stop_wait_s) + 5,
        keep_alive_s=settings.keep_alive_s,
        max_connections=settings.max_connections,
    )


def _settings(values: dict[str, Any]):  # -> Settings (imported late: a fast --help)
    from lts.controller.api.settings import Settings

    try:
        return Settings(**values)
    except ValidationError as exc:
        raise option_error(exc) from None
