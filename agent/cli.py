"""Entry point of the ``agent`` command: ``agent serve`` starts the profiling service.

Every option can also come from its ``LTS_AGENT_*`` environment variable (the token only from
``LTS_AGENT_TOKEN`` or a file: a token on the command line would show in ``ps``). A bad option
is one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from lts.shared import __version__
from lts.shared.errors import LTSError, option_error

logger = logging.getLogger("agent")

app = typer.Typer(
    name="agent",
    help="LTS agent: measures Transformer candidates' latency and peak memory on this device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agent (lts) {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """LTS agent."""


def _opt(help_text: str, env: str) -> typer.models.OptionInfo:
    return typer.Option(help=help_text, envvar=f"LTS_AGENT_{env}", show_default=False)


# The options (None: not given, the Settings class decides: env var, then default).
Host = Annotated[str | None, _opt("Interface to listen on (default: 127.0.0.1).", "HOST")]
Port = Annotated[int | None, _opt("TCP port (default: 8900).", "PORT")]
Name = Annotated[str | None, _opt("Agent name (default: the hostname).", "NAME")]
TokenFile = Annotated[
    Path | None, _opt("File holding the bearer token (else LTS_AGENT_TOKEN).", "TOKEN_FILE")
]
NoAuth = Annotated[
    bool,
    typer.Option("--no-auth", help="Accept requests without a token (loopback addresses only)."),
]
InsecureNoAuth = Annotated[
    bool,
    typer.Option(
        "--insecure-no-auth",
        help="--no-auth even on an address other machines reach (anyone there may use it).",
    ),
]
Threads = Annotated[int | None, _opt("Default measurement threads (default: 1).", "THREADS")]
Runtime = Annotated[str | None, _opt("Default runtime: torch | onnxruntime.", "RUNTIME")]
Device = Annotated[str | None, _opt("Default device: cpu | cuda (default: cpu).", "DEVICE")]
Budget = Annotated[
    float | None,
    _opt("Most memory one measurement may need (default: available/2/slots).", "MEMORY_BUDGET_MB"),
]
MaxQueue = Annotated[int | None, _opt("Most unfinished items queued (default: 1000).", "MAX_QUEUE")]
MaxItems = Annotated[int | None, _opt("Most items in one job (default: 256).", "MAX_ITEMS_PER_JOB")]
Slots = Annotated[int | None, _opt("Measurements at once, own cores each (default: 1).", "SLOTS")]
LogLevel = Annotated[
    str | None, _opt("debug, info, warning or error (default: info).", "LOG_LEVEL")
]


@app.command()
def serve(
    host: Host = None,
    port: Port = None,
    name: Name = None,
    token_file: TokenFile = None,
    no_auth: NoAuth = False,
    insecure_no_auth: InsecureNoAuth = False,
    threads: Threads = None,
    runtime: Runtime = None,
    device: Device = None,
    memory_budget_mb: Budget = None,
    max_queue: MaxQueue = None,
    max_items: MaxItems = None,
    slots: Slots = None,
    log_level: LogLevel = None,
) -> None:
    """Start the agent's REST API (OpenAPI at /docs)."""
    given = {
        "host": host, "port": port, "name": name, "token_file": token_file,
        "no_auth": no_auth or None, "insecure_no_auth": insecure_no_auth or None,
        "threads": threads, "runtime": runtime, "device": device,
        "memory_budget_mb": memory_budget_mb, "max_queue": max_queue,
        "max_items_per_job": max_items, "slots": slots, "log_level": log_level,
    }  # fmt: skip
    settings = _settings({k: v for k, v in given.items() if v is not None})
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from lts.agent.main import create_app
    from lts.shared.connections import raise_open_files_limit
    from lts.shared.tokens import is_loopback
    from lts.shared.web import run_server
    from lts.shared.web_origin import LoopbackHosts

    soft, hard = raise_open_files_limit()  # idle clients must not exhaust a low soft limit
    logger.debug("open files limit: %d (hard %d)", soft, hard)

    try:
        api = create_app(settings)
    except LTSError as exc:
        _fail(str(exc))
    if is_loopback(settings.host):  # a page whose DNS name was rebound to 127.0.0.1 gets nothing
        api.add_middleware(LoopbackHosts, bind_host=settings.host)
    if settings.no_auth:
        logger.warning("--no-auth: anyone who can reach %s:%d may use this agent",
                       settings.host, settings.port)  # fmt: skip
    run_server(
        api,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        graceful_shutdown_s=10,
        keep_alive_s=settings.keep_alive_s,
        header_timeout_s=settings.header_timeout_s,
        max_connections=settings.max_connections,
    )


def _settings(values: dict[str, object]):  # -> Settings (imported late: a fast --help)
    from lts.agent.settings import Settings

    try:
        return Settings(**values)
    except ValidationError as exc:
        _fail(str(option_error(exc)))


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def main() -> None:
    """Console-script entry point: usage errors also exit 1 with one line."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # Click's usage errors
        message = exc.format_message()
        if not message:  # no arguments: the help was shown
            sys.exit(0)
        typer.echo(f"error: {message}", err=True)
        sys.exit(1)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
