"""``controller agents add/list/remove``: the named agents of the agents file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lts.controller.agents import AgentsFile, AgentSpec
from lts.controller.commands._edge import user_errors
from lts.controller.commands._tables import Col, fitted
from lts.shared.schemas import DeviceInfo

agents_app = typer.Typer(
    name="agents", help="The agents the controller knows by name.", no_args_is_help=True
)

FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--agents-file",
        help="The agents file (default: ~/.config/lts/agents.toml).",
        envvar="LTS_AGENTS_FILE",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``agents`` command group to ``app``."""
    app.add_typer(agents_app)


@agents_app.command("add")
def add_agent(
    name: Annotated[str, typer.Argument(help="A short name: letters, digits, - _ .")],
    url: Annotated[str, typer.Argument(help="The agent's URL, e.g. http://192.168.1.20:8900")],
    token_file: Annotated[
        Path | None,
        typer.Option(help="File holding the agent's bearer token (none: a --no-auth agent)."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite an agent of that name.")
    ] = False,
    agents_file: FileOpt = None,
) -> None:
    """Name an agent (its URL and token file) in the agents file."""
    with user_errors():
        registry = AgentsFile(agents_file)
        tf = str(token_file.expanduser().resolve()) if token_file else None
        spec = AgentSpec(name, url, token_file=tf)
        if tf:
            spec.resolve_token()  # fail now, not at the first search
        registry.add(spec, replace=replace)
    typer.echo(f"added {name} ({spec.url}) to {registry.path}")


@agents_app.command("remove")
def remove_agent(
    name: Annotated[str, typer.Argument(help="The agent's name.")],
    agents_file: FileOpt = None,
) -> None:
    """Remove a named agent from the agents file."""
    with user_errors():
        registry = AgentsFile(agents_file)
        registry.remove(name)
    typer.echo(f"removed {name} from {registry.path}")


@agents_app.command("list")
def list_agents(
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Ask each agent whether it is up.")
    ] = True,
    timeout_s: Annotated[float, typer.Option(help="Seconds to wait for each agent.")] = 3.0,
    agents_file: FileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """List the named agents, with a live check: reachable, and what device each is."""
    with user_errors():
        registry = AgentsFile(agents_file)
        specs = list(registry.load().values())
    checks = asyncio.run(_check_all(specs, timeout_s)) if check else [{} for _ in specs]
    if as_json:
        rows = [
            {"name": s.name, "url": s.url, "token_file": s.token_file, **c}
            for s, c in zip(specs, checks, strict=True)
        ]
        typer.echo(json.dumps({"data": rows, "count": len(rows), "file": str(registry.path)}))
        return
    cols = [Col("name"), Col("url"), Col("auth", drop=1), Col("status"), Col("device", drop=2),
            Col("defaults", drop=3), Col("fingerprint", drop=4)]  # fmt: skip
    cells: list[list[str]] = []
    for s, c in zip(specs, checks, strict=True):
        status = (
            ""
            if not check
            else ("[green]up[/]" if c.get("reachable") else f"[red]{c.get('error')}[/]")
        )
        cells.append([
            s.name or "",
            s.url,
            "token file" if s.token_file else ("token" if s.token else "none"),
            status,
            c.get("summary", ""),
            c.get("defaults", ""),
            c.get("fingerprint", ""),
        ])  # fmt: skip
    console = Console()
    console.print(fitted(console, cols, cells, title=f"{len(specs)} agents in {registry.path}"))


async def _check_all(specs: list[AgentSpec], timeout_s: float) -> list[dict[str, Any]]:
    from lts.controller.api.probe import probe_agent  # imported late: a fast --help

    probes = await asyncio.gather(*(probe_agent(s, timeout_s) for s in specs))
    return [_row(p.device) if p.device else {"reachable": False, "error": p.error} for p in probes]


def _row(info: DeviceInfo) -> dict[str, Any]:
    d = info.defaults
    gpus = ", ".join(g.name for g in info.gpus)
    memory_gb = info.memory_total_mb / 1024
    summary = f"{info.name}: {info.cpu_model}, {info.cores_logical} cores, {memory_gb:.0f} GB"
    return {
        "reachable": True,
        "device": info.name,
        "summary": summary + (f", {gpus}" if gpus else ""),
        "defaults": f"{d.runtime}/{d.device}, {d.threads} threads, {info.slots} slot(s)",
        "fingerprint": info.fingerprint,
    }
