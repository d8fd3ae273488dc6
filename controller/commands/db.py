"""``controller db upgrade``: bring an existing store to this release's schema version."""

from __future__ import annotations

import typer

from lts.controller.commands._edge import user_errors
from lts.controller.commands.report import DbOption
from lts.controller.store.store import upgrade

db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``db`` (with ``upgrade``) to ``app``."""
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade_command(db: DbOption = None) -> None:
    """Apply the schema migrations this release has to an existing store, in one transaction
    (back the database up first). A store at the current version is left as it is."""
    with user_errors():
        before, after = upgrade(db)
    if before == after:
        typer.echo(f"the store is at schema version {after} already; nothing to do")
    else:
        typer.echo(f"upgraded the store from schema version {before} to {after}")
