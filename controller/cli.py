"""Entry point of the ``controller`` command (one Typer app; command modules register on it)."""

from __future__ import annotations

import importlib
import logging

import typer

from lts.shared import __version__

app = typer.Typer(
    name="controller",
    help="LTS controller: search space, parameter counts, proxies and the Pareto search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules under lts.controller.commands; each defines register(app: typer.Typer).
COMMAND_MODULES: tuple[str, ...] = (
    "space", "params", "search", "report", "pick", "agents", "proxy", "plot", "export", "serve",
    "db",
)  # fmt: skip


def _version(value: bool) -> None:
    if value:
        typer.echo(f"controller (lts) {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for _name in COMMAND_MODULES:
    importlib.import_module(f"lts.controller.commands.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()
