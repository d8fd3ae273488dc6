"""``controller search``: the evolutionary Pareto search on agents; ``controller demo``: a
short real search on a local agent that the command starts itself."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from controller.agents import AgentsFile, AgentSpec, check_tokens, resolve_agents
from controller.commands._edge import check_range, user_errors
from controller.commands.report import DbOption, JsonOption, output_console, render_report
from controller.report import build_report
from controller.search.baselines import parse_layers
from controller.search.config import SearchConfig
from controller.search.runner import DeviceProgress, SearchOutcome, SearchRunner, start_search
from controller.store import Store
from shared.errors import ConfigError, StoreUnavailable
from shared.space import default_space, load_space

logger = logging.getLogger(__name__)


class Backbone(StrEnum):
    gpt2 = "gpt2"
    transxl = "transxl"


class Frontier(StrEnum):
    pareto = "pareto"
    convex = "convex"


class Sizes(StrEnum):
    paper = "paper"
    space = "space"


def register(app: typer.Typer) -> None:
    """Add ``search`` and ``demo`` to ``app``."""
    app.command("search")(search)
    app.command("demo")(demo)


def _opt(help_text: str, *names: str, envvar: str | None = None, **kw: Any) -> Any:
    return typer.Option(*names, help=help_text, envvar=envvar, show_default=False, **kw)


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


def search(
    agents: AgentsOpt = None,
    agents_file: AgentsFileOpt = None,
    token_file: Annotated[
        Path | None,
        _opt("Token file of the agents given as URLs.", envvar="LTS_AGENT_TOKEN_FILE"),
    ] = None,
    backbone: Annotated[Backbone | None, _opt("gpt2 | transxl (default: gpt2).")] = None,
    space: Annotated[Path | None, _opt("Search space file (TOML or JSON).")] = None,
    homogeneous: Annotated[
        bool | None, _opt("Default space: all layers share n_head and d_inner.", "--homogeneous")
    ] = None,
    proxy: Annotated[str | None, _opt("Perplexity proxy (default: decoder_params).")] = None,
    iterations: Annotated[int | None, _opt("Iterations (default: 30).")] = None,
    population: Annotated[int | None, _opt("Population per iteration (default: 100).")] = None,
    parents: Annotated[int | None, _opt("Parents per iteration (default: 20).")] = None,
    mutation_prob: Annotated[
        float | None, _opt("Per-gene mutation probability (default: 0.3).")
    ] = None,
    seed: Annotated[int | None, _opt("Seed of the search (default: 0).")] = None,
    frontier: Annotated[Frontier | None, _opt("pareto | convex (lower convex hull).")] = None,
    runtime: Annotated[str | None, _opt("torch | onnxruntime (default: the agent's).")] = None,
    device_type: Annotated[str | None, _opt("cpu | cuda (default: the agent's).")] = None,
    metric: Annotated[str | None, _opt("prefill | decode (default: prefill).")] = None,
    output: Annotated[str | None, _opt("Softmax positions: last | all (default: last).")] = None,
    threads: Annotated[int | None, _opt("Threads per measurement (default: the agent's).")] = None,
    seq_len: Annotated[int | None, _opt("Sequence length (default: 192).")] = None,
    time_budget_s: Annotated[
        float | None, _opt("Time budget per measurement, s (default: 10).")
    ] = None,
    min_time_s: Annotated[
        float | None, _opt("Least timed seconds per measurement (default: 1).")
    ] = None,
    warmup_s: Annotated[float | None, _opt("Least warm-up seconds (default: 0.5).")] = None,
    max_latency_ms: Annotated[float | None, _opt("Upper bound on latency (ms).")] = None,
    max_memory_mb: Annotated[float | None, _opt("Upper bound on peak memory (MB).")] = None,
    min_params: Annotated[
        int | None, _opt("Least decoder parameters (checked before measuring).")
    ] = None,
    max_params: Annotated[
        int | None, _opt("Most decoder parameters (checked before measuring).")
    ] = None,
    baselines: Annotated[
        bool | None,
        _opt("Measure layer-scaled baselines (default: yes).", "--baselines/--no-baselines"),
    ] = None,
    baseline_sizes: Annotated[Sizes | None, _opt("paper | space (default: paper).")] = None,
    baseline_layers: Annotated[str | None, _opt("Baseline depths, e.g. 1-16 or 2,4,8.")] = None,
    final_budget_factor: Annotated[
        float | None, _opt("Final re-measurement budget, x the search's (default: 5).")
    ] = None,
    final_max_members: Annotated[
        int | None, _opt("Most frontier members measured again at the end (default: 50).")
    ] = None,
    batch_size: Annotated[int | None, _opt("Items per job sent to an agent (default: 16).")] = None,
    fail_after_s: Annotated[
        float | None,
        _opt("Give a device up after its agent is unreachable this long (default: 300)."),
    ] = None,
    db: DbOption = None,
    resume: Annotated[int | None, _opt("Continue the stored search with this id.")] = None,
    retry_failed: Annotated[
        bool,
        _opt("Measure failed candidates again (their failures are replaced).", "--retry-failed"),
    ] = False,
    name: Annotated[str | None, _opt("A name for the new search.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the evolutionary Pareto search on the agents (or --resume a stored one)."""
    given = {k: v for k, v in locals().items() if v is not None and k in _DEFINITION}
    with user_errors():
        check_range("resume", resume)
        registry = AgentsFile(agents_file)
        tf = str(token_file) if token_file else None
        if resume is not None and given:
            raise ConfigError("resume", f"a stored search keeps its settings; drop {_flags(given)}")
        if resume is None:  # checked before the store is opened (or created)
            if not agents:
                raise ConfigError("agents", "name the agents: --agents pi,laptop (or URLs)")
            specs = resolve_agents(agents.split(","), registry, tf)
            check_tokens(specs)
            config = _new_config([s.name or s.url for s in specs], given)
        with Store.open(db, create=resume is None) as store:
            if resume is not None:
                sid, specs = _resume_agents(store, resume, agents, registry, tf)
            else:
                sid = start_search(store, config, name).id
            outcome = run_search(
                store, sid, specs, show_progress=not as_json, retry_failed=retry_failed
            )
            report = build_report(store, sid)
    finish(report, outcome, as_json)


def run_search(
    store: Store,
    search_id: int,
    specs: list[AgentSpec],
    *,
    show_progress: bool = True,
    retry_failed: bool = False,
) -> SearchOutcome:
    """Run the search with a Rich progress display. Ctrl-C, SIGTERM and SIGHUP (the terminal
    closed) stop it resumably: the jobs in flight are cancelled on the agents, the search is
    stored as interrupted, and the exit status is 130 (Ctrl-C) or 128 + the signal."""
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
                f"once the store takes writes again: controller search --resume {search_id}",
                err=True,
            )
            raise typer.Exit(1) from None
        except (KeyboardInterrupt, asyncio.CancelledError):
            live.stop()
            how = f"stopped by {received[0].name}" if received else "interrupted"
            console.print(
                f"[yellow]{how}[/]: nothing measured is lost; continue with "
                f"[bold]controller search --resume {search_id}[/]"
            )
            raise typer.Exit(128 + received[0] if received else 130) from None


def finish(report: Any, outcome: SearchOutcome, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        render_report(output_console(), report)
    if outcome.status != "done":
        typer.echo(
            f"error: search {outcome.search_id} did not finish on every device; "
            f"fix the agent and run: controller search --resume {outcome.search_id}",
            err=True,
        )
        raise typer.Exit(1)


#: The demo's space: small models (1-4 layers, d_model 64-256, a 10k vocabulary) that an
#: agent builds and measures in well under a second each.
DEMO_SPACE: dict[str, Any] = {
    "backbone": "gpt2",
    "n_layer": {"min": 1, "max": 4},
    "d_model": {"min": 64, "max": 256, "step": 64},
    "d_embed": [64, 128],
    "div_val": [1, 2],
    "n_head": [2, 4],
    "d_inner": {"min": 128, "max": 1024, "step": 128},
    "n_token": 10000,
    "cutoffs": [2000, 5000],
}


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
    from controller.search.local_agent import LocalAgent

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
            final_budget_factor=3.0,
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
                outcome = run_search(store, sid, [spec], show_progress=not as_json)
                report = build_report(store, sid)
    finish(report, outcome, as_json)
    if not as_json:
        console.print(f"stored in {db}: [bold]controller results {sid} --db {db}[/] shows it again")
        console.print(f"dashboard: [bold]controller serve --db {db}[/], then open "
                      f"http://127.0.0.1:8800/ui/searches/{sid}")  # fmt: skip


# ------------------------------------------------------------------------------ helpers
_DEFINITION = {
    "backbone", "space", "homogeneous", "proxy", "iterations", "population", "parents",
    "mutation_prob", "seed", "frontier", "runtime", "device_type", "metric", "output",
    "threads", "seq_len", "time_budget_s", "min_time_s", "warmup_s", "max_latency_ms",
    "max_memory_mb", "min_params", "max_params", "baselines", "baseline_sizes",
    "baseline_layers", "final_budget_factor", "final_max_members", "batch_size", "fail_after_s",
}  # fmt: skip
_MEASURE = {
    "runtime": "runtime", "device_type": "device", "metric": "metric", "output": "output",
    "threads": "threads", "seq_len": "seq_len", "time_budget_s": "time_budget_s",
    "min_time_s": "min_time_s", "warmup_s": "warmup_s",
}  # fmt: skip


def _flags(given: dict[str, Any]) -> str:
    return ", ".join("--" + k.replace("_", "-") for k in sorted(given))


def _new_config(agents: list[str], given: dict[str, Any]) -> SearchConfig:
    values = {k: (v.value if isinstance(v, StrEnum) else v) for k, v in given.items()}
    backbone = values.pop("backbone", None)
    homogeneous = bool(values.pop("homogeneous", False))
    space_file = values.pop("space", None)
    if space_file is not None:
        sp = load_space(space_file, backbone=backbone)
        if homogeneous and not sp.homogeneous:
            sp = dataclasses.replace(sp, homogeneous=True)
    else:
        sp = default_space(backbone or "gpt2", homogeneous=homogeneous)
    measure = {_MEASURE[k]: values.pop(k) for k in list(values) if k in _MEASURE}
    if "baseline_layers" in values:
        values["baseline_layers"] = parse_layers(values["baseline_layers"])
    return SearchConfig.build(agents=agents, space=sp.to_dict(), measure=measure, **values)


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


class LiveProgress:
    """A Rich progress bar per device, fed by the runner's observer."""

    def __init__(self, console: Console, settings: dict[str, Any], *, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.fields[device]}[/]"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} it"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.tasks: dict[int, TaskID] = {}

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.progress.stop()

    def update(self, p: DeviceProgress) -> None:
        if p.position not in self.tasks:
            self.tasks[p.position] = self.progress.add_task(
                "", total=p.iterations, device=p.agent, info=""
            )
        hv = f" · hv {p.hypervolume:.4f}" if p.hypervolume is not None else ""
        state = f"[yellow]waiting: {p.waiting}[/]" if p.waiting else p.phase
        if p.phase == "failed":
            state = f"[red]failed[/]: {p.message}"
        info = (
            f"{state} · {p.measured} measured · {p.cache_hits} cached{hv} · front {p.frontier_size}"
        )
        self.progress.update(
            self.tasks[p.position], completed=p.iteration, device=p.device or p.agent, info=info
        )
