"""``controller search``: the evolutionary Pareto search on agents; ``controller demo``: a
short real search on a local agent that the command starts itself."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
import shlex
import signal
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from rich.console import Console

from lts.controller.agents import AgentsFile, AgentSpec, check_tokens, resolve_agents
from lts.controller.commands._edge import check_range, user_errors
from lts.controller.commands.live_progress import LiveProgress
from lts.controller.commands.report import DbOption, JsonOption, output_console, render_report
from lts.controller.preflight import check_agents, check_bounds
from lts.controller.report import build_report
from lts.controller.search.config import SearchConfig
from lts.controller.search.options import (
    Option,
    SearchOptions,
    build_config,
    default_text,
    options,
    refuse_on_resume,
)
from lts.controller.search.runner import SearchOutcome, SearchRunner, start_search
from lts.controller.search.small_spaces import DEMO_SPACE
from lts.controller.store import Store
from lts.shared.errors import ConfigError, StoreUnavailable

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add ``search`` and ``demo`` to ``app``."""
    app.command("search")(search)
    app.command("demo")(demo)


def _opt(help_text: str, *names: str, envvar: str | None = None, **kw: Any) -> Any:
    return typer.Option(*names, help=help_text, envvar=envvar, show_default=False, **kw)


def _with_search_options(after: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command a CLI option per field of :class:`SearchOptions`, after its parameter
    ``after``; the command receives those given in its parameter ``given`` (by name)."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values()
               if p.name != "given"]  # fmt: skip
        at = next(i for i, p in enumerate(own) if p.name == after) + 1
        added = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                              annotation=_cli_annotation(name, option))
            for name, option in options().items()
        ]  # fmt: skip
        params = [*own[:at], *added, *own[at:]]

        @functools.wraps(command)
        def run(**values: Any) -> None:
            given = {name: values.pop(name) for name in options()}
            given = {k: v.value if isinstance(v, StrEnum) else v for k, v in given.items()
                     if v is not None}  # fmt: skip
            command(**values, given=given)

        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return decorate


def _cli_annotation(name: str, option: Option) -> Any:
    """The CLI type of option ``name`` with its ``typer.Option``: a Literal becomes an enum
    (so that the help lists the choices); the help ends with the default."""
    kind: Any = option.cli or _plain_type(SearchOptions.model_fields[name].annotation)
    if get_origin(kind) is Literal:
        kind = _choices(name.title().replace("_", ""), get_args(kind))
    text = option.help
    default = default_text(name)
    if default is not None:
        text = f"{text.rstrip('.')} (default: {default})."
    return Annotated[kind | None, _opt(text, *([option.flag] if option.flag else []))]


def _choices(name: str, values: tuple[str, ...]) -> type[StrEnum]:
    """An enum of ``values`` (typer lists its members as the choices)."""
    return StrEnum(name, {v: v for v in values})  # type: ignore[return-value]


def _plain_type(annotation: Any) -> Any:
    """``annotation`` without ``None`` and without its bounds (``Annotated``)."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            (annotation,) = [a for a in get_args(annotation) if a is not type(None)]
        else:
            return annotation


AgentsOpt = Annotated[
    str | None,
    _opt("Comma-separated agent names (from the agents file) or URLs.", envvar="LTS_AGENTS"),
]
AgentsFileOpt = Annotated[
    Path | None,
    _opt(
        "The agents file (default: ~/.config/lts/agents.toml).",
        "--agents-file",
        envvar="LTS_AGENTS_FILE",
    ),
]


@_with_search_options(after="token_file")
def search(
    agents: AgentsOpt = None,
    agents_file: AgentsFileOpt = None,
    token_file: Annotated[
        Path | None,
        _opt("Token file of the agents given as URLs.", envvar="LTS_AGENT_TOKEN_FILE"),
    ] = None,
    db: DbOption = None,
    resume: Annotated[int | None, _opt("Continue the stored search with this id.")] = None,
    retry_failed: Annotated[
        bool,
        _opt("Measure failed candidates again (their failures are replaced).", "--retry-failed"),
    ] = False,
    name: Annotated[str | None, _opt("A name for the new search.")] = None,
    as_json: JsonOption = False,
    given: dict[str, Any] | None = None,
) -> None:
    """Run the evolutionary Pareto search on the agents (or --resume a stored one)."""
    given = given or {}
    with user_errors():
        check_range("resume", resume)
        registry = AgentsFile(agents_file)
        tf = str(token_file) if token_file else None
        if resume is not None:
            refuse_on_resume(given, spell=lambda name: "--" + name.replace("_", "-"))
        if resume is None:  # checked before the store is opened (or created)
            if not agents:
                raise ConfigError("agents", "name the agents: --agents pi,laptop (or URLs)")
            specs = resolve_agents(agents.split(","), registry, tf)
            check_tokens(specs)
            config = build_config([s.name or s.url for s in specs], given)
            check_bounds(config)
        with Store.open(db, create=resume is None) as store:
            if resume is not None:
                sid, specs = _resume_agents(store, resume, agents, registry, tf)
                if store.get_search(sid).status == "done" and not retry_failed:
                    typer.echo(f"search {sid} is done: nothing to resume (its results follow; "
                               "--retry-failed measures its failures again)", err=True)  # fmt: skip
                    report = build_report(store, sid)
                    finish(report, None, as_json, "")
                    return
            check_agents(specs)  # nothing is stored (or changed) for a search that cannot run
            if resume is None:
                sid = start_search(store, config, name).id
            hint = resume_hint(sid, db, agents_file, tf)
            outcome = run_search(
                store, sid, specs, show_progress=not as_json, retry_failed=retry_failed,
                hint=hint,
            )  # fmt: skip
            report = build_report(store, sid)
    finish(report, outcome, as_json, hint)


def resume_hint(
    search_id: int, db: str | None, agents_file: Path | None, token_file: str | None
) -> str:
    """The command that resumes search ``search_id`` as this one was run: with the ``--db``,
    ``--agents-file`` and ``--token-file`` it was given (those that came from the
    environment are in it again; a password in a database URL is masked), so that a pasted
    hint resumes this search in this store, never another store's search of the same id."""
    parts = ["controller", "search", "--resume", str(search_id)]
    if db is not None and os.environ.get("LTS_DB") != db:
        parts += ["--db", _masked(db)]
    if agents_file is not None and os.environ.get("LTS_AGENTS_FILE") != str(agents_file):
        parts += ["--agents-file", str(agents_file)]
    if token_file is not None and os.environ.get("LTS_AGENT_TOKEN_FILE") != token_file:
        parts += ["--token-file", token_file]
    return shlex.join(parts)


def _masked(db: str) -> str:
    """``db`` with the password of a database URL replaced by ``***``."""
    if "://" not in db:
        return db
    from sqlalchemy.engine import make_url

    try:
        return make_url(db).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: shown as given
        return db


def run_search(
    store: Store,
    search_id: int,
    specs: list[AgentSpec],
    *,
    show_progress: bool = True,
    retry_failed: bool = False,
    hint: str | None = None,
) -> SearchOutcome:
    """Run the search with a Rich progress display. Ctrl-C, SIGTERM and SIGHUP (the terminal
    closed) stop it resumably: the jobs in flight are cancelled on the agents, the search is
    stored as interrupted, and the exit status is 130 (Ctrl-C) or 128 + the signal. ``hint``:
    the command that resumes it (see :func:`resume_hint`)."""
    hint = hint or f"controller search --resume {search_id}"
    console = Console(stderr=True)
    with LiveProgress(console, store.get_search(search_id).settings, enabled=show_progress) as live:
        runner = SearchRunner(
            store, search_id, specs, observer=live.update, retry_failed=retry_failed
        )
        received: list[signal.Signals] = []

        def on_signal(sig: signal.Signals) -> None:
            received.append(sig)
            runner.stop(f"stopped by {sig.name}")

        async def main() -> SearchOutcome:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, on_signal, sig)
            return await runner.run()

        try:
            return asyncio.run(main())
        except StoreUnavailable as exc:  # stored as interrupted where the store still could
            live.stop()
            typer.echo(
                f"error: search {search_id} stopped: {exc}; nothing measured before is lost; "
                f"once the store takes writes again: {hint}",
                err=True,
            )
            raise typer.Exit(1) from None
        except (KeyboardInterrupt, asyncio.CancelledError):
            live.stop()
            how = f"stopped by {received[0].name}" if received else "interrupted"
            console.print(
                f"[yellow]{how}[/]: nothing measured is lost; continue with [bold]{hint}[/]",
                soft_wrap=True,
            )
            raise typer.Exit(128 + received[0] if received else 130) from None


def finish(report: Any, outcome: SearchOutcome | None, as_json: bool, hint: str) -> None:
    """Print the report; exit 1 with ``hint`` (the resume command) when the search did not
    finish on every device (``outcome`` None: nothing was run)."""
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        render_report(output_console(), report)
    if outcome is not None and outcome.status != "done":
        typer.echo(
            f"error: search {outcome.search_id} did not finish on every device; "
            f"fix the agent and run: {hint}",
            err=True,
        )
        raise typer.Exit(1)


def demo(
    db: Annotated[Path, _opt("The demo's SQLite file.", "--db", envvar="LTS_DEMO_DB")] = Path(
        "lts-demo/demo.sqlite"
    ),
    iterations: Annotated[int, _opt("Iterations (default: 4).")] = 4,
    population: Annotated[int, _opt("Population per iteration (default: 12).")] = 12,
    parents: Annotated[int, _opt("Parents per iteration (default: 4).")] = 4,
    time_budget_s: Annotated[float, _opt("Time budget per measurement, s (default: 0.3).")] = 0.3,
    seed: Annotated[int, _opt("Seed of the search (default: 0).")] = 0,
    port: Annotated[int | None, _opt("Port of the local agent (default: a free one).")] = None,
    as_json: JsonOption = False,
) -> None:
    """A short real search: start a local agent (no token, loopback only), search a small
    space for a few iterations into a SQLite file, print the results, stop the agent."""
    from lts.controller.search.local_agent import LocalAgent

    console = Console(stderr=True)
    db = db.expanduser()
    with user_errors():
        config = SearchConfig.build(
            agents=["demo"],
            space=DEMO_SPACE,
            seed=seed,
            iterations=iterations,
            population=population,
            parents=parents,
            baseline_sizes="space",
            baseline_layers=[1, 2, 3, 4],
            measure={"time_budget_s": time_budget_s, "min_time_s": time_budget_s / 3,
                     "warmup_s": 0.05},
            fail_after_s=60.0,
        )  # fmt: skip
        if not as_json:
            console.print(f"starting a local agent (log: {db.parent / 'agent.log'}) ...")
        with LocalAgent(name="demo", port=port, log_path=db.parent / "agent.log") as agent:
            spec = AgentSpec("demo", agent.url)
            with Store.open(db) as store:
                sid = start_search(store, config, name="demo").id
                hint = f"controller search --resume {sid} --db {shlex.quote(str(db))}"
                outcome = run_search(store, sid, [spec], show_progress=not as_json, hint=hint)
                report = build_report(store, sid)
    finish(report, outcome, as_json, hint)
    if not as_json:
        console.print(f"stored in {db}: [bold]controller results {sid} --db {db}[/] shows it again")
        console.print(f"dashboard: [bold]controller serve --db {db}[/], then open "
                      f"http://127.0.0.1:8800/ui/searches/{sid}")  # fmt: skip


# ------------------------------------------------------------------------------ helpers
def _resume_agents(
    store: Store, search_id: int, agents: str | None, registry: AgentsFile, token_file: str | None
) -> tuple[int, list[AgentSpec]]:
    """The stored search's agents, resolved again (names through the agents file); with
    ``--agents``, the same number of agents given anew (e.g. an agent that moved)."""
    search = store.get_search(search_id)
    stored = [d.agent for d in store.search_devices(search.id)]
    items = agents.split(",") if agents else stored
    specs = resolve_agents(items, registry, token_file)
    if len(specs) != len(stored):
        raise ConfigError("agents", f"search {search_id} ran on {len(stored)} agents: {stored}")
    check_tokens(specs)
    return search.id, specs
